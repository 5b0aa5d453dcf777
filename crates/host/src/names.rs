//! The names the kernel accepts, checked before anything runs so the real implementations and
//! the fake refuse the same inputs: interface names (`dev_valid_name`: at most 15 bytes, no
//! `/`, `:` or whitespace), namespace names (a file under `/run/netns`), `net.*` sysctl keys,
//! MAC addresses.

use crate::error::{Error, Result};

/// Linux's IFNAMSIZ - 1.
pub const MAX_IFNAME: usize = 15;

fn invalid(kind: &'static str, name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidName { kind, name: name.into(), reason: reason.into() }
}

/// An interface name the kernel accepts.
pub fn validate_ifname(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(invalid("interface", name, "empty, `.` or `..`"));
    }
    if name.len() > MAX_IFNAME {
        return Err(invalid("interface", name, format!("longer than {MAX_IFNAME} characters")));
    }
    if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control()) {
        return Err(invalid("interface", name, "holds `/`, `:` or whitespace"));
    }
    Ok(())
}

/// A namespace name: one path component under `/run/netns`, not an option.
pub fn validate_netns(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.len() > 255 {
        return Err(invalid("namespace", name, "empty, `.`, `..` or too long"));
    }
    if name.starts_with('-') || name.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(invalid("namespace", name, "starts with `-` or holds `/` or whitespace"));
    }
    Ok(())
}

/// A sysctl key of a namespace: `net.` and dot-separated words (only the `net.*` tree is per
/// network namespace).
pub fn validate_sysctl(key: &str) -> Result<()> {
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if !key.starts_with("net.") || !key.split('.').all(word) {
        return Err(invalid("sysctl", key, "not a `net.*` key of dot-separated words"));
    }
    Ok(())
}

/// A sysctl value: one line without spaces at the ends.
pub fn validate_sysctl_value(value: &str) -> Result<()> {
    if value.is_empty() || value.contains('\n') || value.trim() != value {
        return Err(Error::Invalid { what: "sysctl value", reason: format!("`{value}`") });
    }
    Ok(())
}

/// A MAC address `xx:xx:xx:xx:xx:xx` (hex, either case).
pub fn validate_mac(mac: &str) -> Result<()> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok =
        parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if ok { Ok(()) } else { Err(Error::Invalid { what: "MAC address", reason: format!("`{mac}`") }) }
}

/// An MTU the kernel may accept (68 is IPv4's minimum; 65535 the largest a link reports).
pub fn validate_mtu(mtu: u32) -> Result<()> {
    if (68..=65535).contains(&mtu) {
        Ok(())
    } else {
        Err(Error::Invalid { what: "MTU", reason: format!("{mtu} is outside 68..=65535") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for ok in ["eth0", "tap11111111-22", "qr-0123456789a", "a"] {
            validate_ifname(ok).unwrap();
        }
        assert_eq!("tap11111111-22x".len(), 15);
        validate_ifname("tap11111111-22x").unwrap();
        for bad in ["", ".", "..", "tap11111111-22xy", "a/b", "a:b", "a b"] {
            assert!(matches!(validate_ifname(bad), Err(Error::InvalidName { .. })), "{bad}");
        }
    }

    #[test]
    fn namespace_names_and_sysctls() {
        validate_netns("qrouter-0123").unwrap();
        for bad in ["", "..", "a/b", "-n", "a b"] {
            assert!(validate_netns(bad).is_err(), "{bad}");
        }
        validate_sysctl("net.ipv4.ip_forward").unwrap();
        validate_sysctl("net.ipv4.conf.qg-1234.proxy_arp").unwrap();
        for bad in ["kernel.panic", "net.", "net..x", "net.ipv4/ip_forward", "net.a b"] {
            assert!(validate_sysctl(bad).is_err(), "{bad}");
        }
        validate_mac("fa:16:3e:00:00:0A").unwrap();
        assert!(validate_mac("fa:16:3e:00:00").is_err());
        assert!(validate_mtu(1450).is_ok() && validate_mtu(0).is_err());
    }
}
