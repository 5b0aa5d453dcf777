//! Snapshots of what the `l3` driver generates (its nftables batch, radvd's configuration,
//! haproxy's) and the element batches of floating IP changes.
