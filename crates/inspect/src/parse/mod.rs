//! Parsers of what Open vSwitch prints: `ovs-ofctl dump-flows` with its counters ([`flows`]),
//! `ovs-appctl ofproto/trace` ([`trace`]) and `ovs-vsctl --format=json` tables ([`ovsdb`]). They
//! take any text and never panic: what they do not understand is an error or is skipped.
