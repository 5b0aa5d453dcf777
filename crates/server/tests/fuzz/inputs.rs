//! Generators of the API property tests: who calls, hostile scalar values (huge and negative
//! integers, empty and very long strings, unicode, the seeded world's ids), query strings from
//! a resource's known keys with repeats up to a few thousand, and JSON text with random types,
//! nesting and repeated keys (which `serde_json::Value` cannot hold).

use neutrino_model::attrs::{Attr, FilterKind, Op};
use proptest::prelude::*;

use super::AGENT_TOKEN;

/// The caller's headers: the noauth admin, members, a reader, an admin role, the agent.
pub fn caller() -> impl Strategy<Value = Vec<(String, String)>> {
    let h = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    prop_oneof![
        Just(h(&[])),
        Just(h(&[("X-Project-Id", "p1"), ("X-Roles", "member")])),
        Just(h(&[("X-Project-Id", "p1"), ("X-Roles", "reader")])),
        Just(h(&[("X-Project-Id", "p2"), ("X-Roles", "member")])),
        Just(h(&[("X-Project-Id", "p1"), ("X-Roles", "admin,member")])),
    ]
}

/// Headers of the internal agent API: usually the right credential.
pub fn agent_caller() -> impl Strategy<Value = Vec<(String, String)>> {
    prop_oneof![
        4 => Just(vec![("X-Agent-Token".to_string(), AGENT_TOKEN.to_string())]),
        1 => Just(vec![("X-Agent-Token".to_string(), "wrong".to_string())]),
        1 => Just(vec![]),
    ]
}

/// Integers as text, at and past every boundary a parser may have.
pub fn int_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("4094".to_string()),
        Just("4095".to_string()),
        Just("65536".to_string()),
        Just("2147483648".to_string()),
        Just("9223372036854775806".to_string()),
        Just("9223372036854775807".to_string()),
        Just("9223372036854775808".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("123456789012345678901234567890".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

/// Words the API knows, so that generated input reaches past the first checks.
const WORDS: &[&str] = &[
    "True",
    "true",
    "False",
    "false",
    "1",
    "yes",
    "asc",
    "desc",
    "id",
    "name",
    "vlan",
    "flat",
    "vxlan",
    "geneve",
    "local",
    "physnet1",
    "host-1",
    "normal",
    "direct",
    "baremetal",
    "network:dhcp",
    "compute:nova",
    "slaac",
    "dhcpv6-stateful",
    "10.0.0.0/24",
    "10.0.0.5",
    "10.0.0.0/33",
    "256.1.1.1",
    "::/0",
    "2001:db8::/64",
    "fa:16:3e:00:00:01",
    "ff:ff:ff:ff:ff:ff",
    "ACTIVE",
    "DOWN",
    "red",
    "blue",
    "red,blue",
    "2024-05-01T12:00:00",
    "2024-05-01T12:00:00+02:00",
    "ip_address=10.0.0.5",
    "subnet_id={subnet_id}",
    "{network_id}",
    "{subnet_id}",
    "{port_id}",
    "{agent_id}",
    "p1",
    "p2",
    "*",
    "%",
    "_",
    "'",
    "\"",
    "\\",
    "' OR 1=1 --",
    "NULL",
];

/// Short scalar text: known words, integers, empty, unicode, control characters.
pub fn short_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(String::from),
        3 => int_text(),
        1 => Just(String::new()),
        2 => any::<String>(),
        1 => "[\u{0}-\u{1f}\u{7f}\u{202e}\u{fffd}\u{1F600}ü€]{1,8}",
    ]
}

/// Any scalar text: [`short_text`], or very long.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => short_text(),
        1 => (1usize..20_000, prop::sample::select(&["a", "é", "😀", ",", "%"][..])).prop_map(|(n, c)| c.repeat(n)),
    ]
}

/// How often a query pair repeats: mostly once, sometimes a few times, sometimes thousands.
pub fn repeat() -> impl Strategy<Value = usize> {
    prop_oneof![8 => Just(1usize), 2 => 2usize..20, 1 => 200usize..3000]
}

/// Query keys of a resource's list: the paging and sorting keys, tag filters, every filter
/// attribute (admin-only ones too), and a few that are not filters.
pub fn query_key(attrs: &'static [Attr]) -> impl Strategy<Value = String> {
    let filters: Vec<String> =
        attrs.iter().filter(|a| a.filter != FilterKind::None).map(|a| a.name.to_string()).collect();
    let others: Vec<String> =
        attrs.iter().filter(|a| a.filter == FilterKind::None).map(|a| a.name.to_string()).collect();
    let special = [
        "fields",
        "sort_key",
        "sort_dir",
        "limit",
        "marker",
        "page_reverse",
        "tags",
        "tags-any",
        "not-tags",
        "not-tags-any",
        "changed_since",
    ];
    prop_oneof![
        5 => prop::sample::select(special.map(String::from).to_vec()),
        5 => prop::sample::select(filters),
        1 => prop::sample::select(others),
        1 => prop_oneof![Just("bogus".to_string()), "[a-z_:\\-\\[\\]]{0,12}".prop_map(String::from)],
    ]
}

/// A value for `key`: what the key expects (attribute names for `sort_key`, …) or anything.
pub fn query_value(key: &str, attrs: &'static [Attr], coll: &'static str) -> BoxedStrategy<String> {
    let names: Vec<String> = attrs.iter().map(|a| a.name.to_string()).collect();
    let marker = match coll {
        "networks" => "{network_id}",
        "subnets" => "{subnet_id}",
        _ => "{port_id}",
    };
    let specific: BoxedStrategy<String> = match key {
        "sort_key" => prop::sample::select(names).boxed(),
        "fields" => {
            prop::collection::vec(prop::sample::select(names), 1..4).prop_map(|v| v.join(",")).boxed()
        }
        "sort_dir" => prop::sample::select(vec!["asc".to_string(), "desc".into(), "ASC".into()]).boxed(),
        "limit" => int_text().boxed(),
        "marker" => prop_oneof![Just(marker.to_string()), Just(uuid::Uuid::nil().to_string())].boxed(),
        "page_reverse" => {
            prop::sample::select(vec!["True".to_string(), "false".into(), "maybe".into()]).boxed()
        }
        _ => text().boxed(),
    };
    prop_oneof![3 => specific, 1 => text()].boxed()
}

/// `key=value` pairs (in order, with repeats) of one list query.
pub fn query_pairs(
    attrs: &'static [Attr],
    coll: &'static str,
) -> impl Strategy<Value = Vec<(String, String)>> {
    let pair = query_key(attrs)
        .prop_flat_map(move |k| (Just(k.clone()), query_value(&k, attrs, coll), repeat()))
        .prop_map(|(k, v, n)| {
            let n = n.min(MAX_QUERY / (k.len() + v.len() + 2)).max(1);
            vec![(k, v); n]
        });
    prop::collection::vec(pair, 0..5).prop_map(|groups| groups.concat())
}

/// Repeats stop at about this many bytes of one key's pairs (before encoding); a URI holds
/// at most 64 KiB.
const MAX_QUERY: usize = 20_000;

/// Percent-encodes `pairs`, keeping `{placeholder}`s readable (they are filled in at send
/// time); `raw` is appended as is (stray `%`, `&&`, `=`…).
pub fn encode_query(pairs: &[(String, String)], raw: &str) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let mut q = ser.finish();
    for p in super::PLACEHOLDERS {
        q = q.replace(&format!("%7B{p}%7D"), &format!("{{{p}}}"));
    }
    if !raw.is_empty() {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(raw);
    }
    q
}

/// A path segment: usually `placeholder` (an id of the seeded world), else any text
/// percent-encoded, or escapes that are not UTF-8.
pub fn segment(placeholder: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(placeholder.to_string()),
        1 => text().prop_map(|t| url::form_urlencoded::byte_serialize(t.as_bytes()).collect()),
        1 => prop::sample::select(vec!["%FF", "%C0%80", "%00", "%2F", "..", "%ED%A0%80"]).prop_map(String::from),
    ]
}

/// Raw query text that the form encoder would never write.
pub fn raw_query() -> impl Strategy<Value = String> {
    prop_oneof![6 => Just(String::new()), 1 => "[%&=;+a-z0-9_:]{0,30}", 1 => Just("%FF%FE=%C0".to_string())]
}

/// JSON text: objects may repeat keys; numbers may be outside every integer type.
#[derive(Debug, Clone)]
pub enum Json {
    /// A literal written as is: numbers, `true`, `null`.
    Raw(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj(pairs: Vec<(&str, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn s(v: &str) -> Json {
        Json::Str(v.into())
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Raw(r) => out.push_str(r),
            Json::Str(s) => out.push_str(&serde_json::to_string(s).expect("strings serialise")),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("strings serialise"));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A scalar of random type.
pub fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => prop::sample::select(vec!["null", "true", "false", "-0", "1.5", "1e308", "1e999", "-1e-400", "0.0"])
            .prop_map(|r| Json::Raw(r.into())),
        3 => int_text().prop_map(Json::Raw),
        6 => text().prop_map(Json::Str),
    ]
}

/// Object keys: mostly `names` (a resource's attributes and sub-keys), sometimes anything.
pub fn key(names: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop_oneof![6 => prop::sample::select(names).prop_map(String::from), 1 => text()]
}

/// Any JSON value: random types, nesting, objects keyed from `names`, and now and then an
/// array of thousands of copies of one small value.
pub fn json_value(names: Vec<&'static str>) -> BoxedStrategy<Json> {
    let small = prop_oneof![int_text().prop_map(Json::Raw), short_text().prop_map(Json::Str)];
    let big = (small, 200usize..3000).prop_map(|(v, n)| Json::Arr(vec![v; n]));
    let nested = json_leaf().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Arr),
            prop::collection::vec((key(names.clone()), inner), 0..6).prop_map(Json::Obj),
        ]
    });
    prop_oneof![12 => nested, 1 => big].boxed()
}

/// Sub-keys of attribute values (`fixed_ips`, `allocation_pools`, `host_routes`, `binding:profile`).
pub const SUB_KEYS: &[&str] = &["subnet_id", "ip_address", "start", "end", "destination", "nexthop", "tags"];

fn ip() -> impl Strategy<Value = Json> {
    prop_oneof![
        (0u8..=255).prop_map(|d| Json::Str(format!("10.0.0.{d}"))),
        prop::sample::select(vec!["10.0.0.0", "10.0.0.255", "0.0.0.0", "::1", "2001:db8::5", "10.0.0.1/24"])
            .prop_map(Json::s),
    ]
}

fn cidr() -> impl Strategy<Value = Json> {
    (0u8..=255, 0u8..=40).prop_map(|(b, len)| Json::Str(format!("10.{b}.0.0/{len}")))
}

fn strs(words: &[&'static str]) -> BoxedStrategy<Json> {
    prop::sample::select(words.to_vec()).prop_map(Json::s).boxed()
}

fn bool_json() -> BoxedStrategy<Json> {
    prop::sample::select(vec!["true", "false"]).prop_map(|b| Json::Raw(b.into())).boxed()
}

/// A value an attribute could well have (so that a body gets past validation to the deeper
/// code), or `None` for attributes without a rule here.
pub fn plausible(name: &str) -> Option<BoxedStrategy<Json>> {
    let v = match name {
        "name" | "description" | "device_id" => short_text().prop_map(Json::Str).boxed(),
        "admin_state_up"
        | "shared"
        | "port_security_enabled"
        | "enable_dhcp"
        | "router:external"
        | "use_default_subnetpool" => bool_json(),
        "provider:network_type" => strs(&["vlan", "flat", "vxlan", "geneve", "gre", "local"]),
        "provider:physical_network" => strs(&["physnet1", "physnet2", ""]),
        "provider:segmentation_id" | "mtu" | "prefixlen" => int_text().prop_map(Json::Raw).boxed(),
        "ip_version" => {
            strs(&["4", "6"]).prop_map(|v| Json::Raw(v.render().trim_matches('"').into())).boxed()
        }
        "cidr" => cidr().boxed(),
        "gateway_ip" | "ip_address" | "start" | "end" | "nexthop" => ip().boxed(),
        "destination" => cidr().boxed(),
        "allocation_pools" => prop::collection::vec((ip(), ip()), 0..3)
            .prop_map(|v| {
                Json::Arr(v.into_iter().map(|(a, b)| Json::obj(vec![("start", a), ("end", b)])).collect())
            })
            .boxed(),
        "dns_nameservers" => prop::collection::vec(ip(), 0..4).prop_map(Json::Arr).boxed(),
        "host_routes" => prop::collection::vec((cidr(), ip()), 0..3)
            .prop_map(|v| {
                Json::Arr(
                    v.into_iter().map(|(d, n)| Json::obj(vec![("destination", d), ("nexthop", n)])).collect(),
                )
            })
            .boxed(),
        "ipv6_ra_mode" | "ipv6_address_mode" => strs(&["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]),
        "mac_address" => {
            strs(&["fa:16:3e:00:00:01", "FA:16:3E:AA:BB:CC", "01:00:00:00:00:00", "00:00:00:00:00:00"])
        }
        "fixed_ips" => prop::collection::vec((any::<bool>(), ip()), 0..3)
            .prop_map(|v| {
                Json::Arr(
                    v.into_iter()
                        .map(|(with_subnet, ip)| {
                            let mut o = vec![("ip_address", ip)];
                            if with_subnet {
                                o.push(("subnet_id", Json::s("{subnet_id}")));
                            }
                            Json::obj(o)
                        })
                        .collect(),
                )
            })
            .boxed(),
        "device_owner" => strs(&["compute:nova", "network:dhcp", "network:router_interface", ""]),
        "binding:host_id" => strs(&["host-1", "host-2", ""]),
        "binding:vnic_type" => strs(&["normal", "direct", "macvtap", "baremetal"]),
        "binding:profile" => Just(Json::Obj(vec![])).boxed(),
        "project_id" | "tenant_id" => strs(&["p1", "p2"]),
        "network_id" => strs(&["{network_id}"]),
        "subnet_id" => strs(&["{subnet_id}"]),
        "tags" => prop::collection::vec(short_text().prop_map(Json::Str), 0..4).prop_map(Json::Arr).boxed(),
        _ => return None,
    };
    Some(v)
}

/// A value for attribute `name`: usually plausible, else of random type.
pub fn attr_value(name: &'static str, names: Vec<&'static str>) -> BoxedStrategy<Json> {
    match plausible(name) {
        Some(p) => prop_oneof![3 => p, 1 => json_value(names)].boxed(),
        None => json_value(names),
    }
}

/// An object shaped like a resource: usually `base` pairs (to get past required-attribute
/// checks), then mostly attributes writable by `op` (possibly repeated) with plausible values
/// or values of random type, and now and then any key.
pub fn resource_object(
    attrs: &'static [Attr],
    op: Op,
    base: Vec<(&'static str, Json)>,
) -> impl Strategy<Value = Json> {
    let mut names: Vec<&'static str> = attrs.iter().map(|a| a.name).collect();
    names.extend(SUB_KEYS);
    let writable: Vec<&'static str> =
        attrs.iter().filter(|a| if op == Op::Create { a.post } else { a.put }).map(|a| a.name).collect();
    let pair = prop_oneof![
        6 => prop::sample::select(writable).prop_flat_map({
            let names = names.clone();
            move |k| (Just(k.to_string()), attr_value(k, names.clone()))
        }),
        1 => (key(names.clone()), json_value(names)),
    ];
    let pairs = prop::collection::vec(pair, 0..5);
    (prop::bool::weighted(0.8), pairs).prop_map(move |(with_base, pairs)| {
        let mut all: Vec<(String, Json)> =
            if with_base { base.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() } else { vec![] };
        all.extend(pairs);
        Json::Obj(all)
    })
}

/// A create or update body of a resource: `{"<singular>": obj}` mostly, bulk lists, extra or
/// missing wrappers, random JSON, damaged text, raw bytes.
pub fn resource_body(
    singular: &'static str,
    plural: &'static str,
    obj: BoxedStrategy<Json>,
) -> BoxedStrategy<Vec<u8>> {
    let one = obj.clone().prop_map(move |o| Json::Obj(vec![(singular.to_string(), o)]).render().into_bytes());
    let bulk = prop::collection::vec(obj.clone(), 0..4)
        .prop_map(move |v| Json::Obj(vec![(plural.to_string(), Json::Arr(v))]).render().into_bytes());
    let extra = (obj.clone(), key(vec![singular, plural, "tags"]), json_leaf())
        .prop_map(move |(o, k, v)| Json::Obj(vec![(singular.to_string(), o), (k, v)]).render().into_bytes());
    let damaged = (obj, any::<prop::sample::Index>(), any::<u8>()).prop_map(move |(o, at, b)| {
        let mut bytes = Json::Obj(vec![(singular.to_string(), o)]).render().into_bytes();
        let i = at.index(bytes.len());
        if b % 2 == 0 {
            bytes.truncate(i)
        } else {
            bytes[i] = b
        }
        bytes
    });
    prop_oneof![
        8 => one,
        2 => bulk,
        1 => extra,
        2 => json_value(vec![singular, plural]).prop_map(|v| v.render().into_bytes()),
        2 => damaged,
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
    .boxed()
}
