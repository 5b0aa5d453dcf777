//! Property tests ("fuzzing" on stable Rust) of the OVSDB stream splitter and decoder
//! ([`Framer`], RFC 7047 §4: JSON-RPC 1.0 objects back to back): arbitrary bytes in arbitrary
//! chunks never panic and never hold more than the message limit plus one read; valid
//! messages split at any byte boundaries decode to the same messages as unsplit; truncated
//! streams give a prefix of the messages, garbled ones at least the messages before the
//! damage. `PROPTEST_CASES=N` runs N cases per property. Failing inputs are kept in
//! `tests/corpus/ovsdb/` and replayed by `tests/corpus.rs`.

mod fuzz;

use neutrino_ovs::ovsdb::framing::DEFAULT_MAX_MESSAGE_BYTES;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Strings that stress the scanner: quotes, backslashes, brackets and non-ASCII text.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\"\\\\{}\\[\\]a-z\u{e9}\u{1F600}\\n\\t ]{0,40}", Just(String::new())]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((tricky_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON-RPC message as an OVSDB server sends them: a reply, a notification or a request.
fn message() -> impl Strategy<Value = Value> {
    prop_oneof![
        (any::<u64>(), json_value()).prop_map(|(id, r)| json!({"id": id, "result": r, "error": null})),
        (any::<u64>(), json_value()).prop_map(|(id, e)| json!({"id": id, "result": null, "error": e})),
        (tricky_string(), json_value())
            .prop_map(|(m, p)| json!({"id": null, "method": "update", "params": [m, p]})),
        (json_value(), json_value()).prop_map(|(id, p)| json!({"method": "echo", "params": p, "id": id})),
    ]
}

fn whitespace() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,3}"
}

/// Messages written back to back (compact or pretty, with whitespace between), and the
/// offset where each one ends.
fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<Value>, Vec<usize>)> {
    prop::collection::vec((message(), any::<bool>(), whitespace()), 0..6).prop_map(|msgs| {
        let (mut bytes, mut values, mut ends) = (vec![], vec![], vec![]);
        for (m, pretty, ws) in msgs {
            bytes.extend_from_slice(ws.as_bytes());
            let start = bytes.len();
            let text = if pretty { serde_json::to_string_pretty(&m) } else { serde_json::to_string(&m) };
            bytes.extend_from_slice(text.unwrap().as_bytes());
            ends.push(bytes.len());
            // What the peer means is what serde_json reads back (floats, duplicate keys).
            values.push(serde_json::from_slice::<Value>(&bytes[start..]).unwrap());
        }
        (bytes, values, ends)
    })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..4096, 0..12)
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks(bytes in prop::collection::vec(any::<u8>(), 0..512), cuts in cuts(),
                                           max in prop_oneof![Just(16usize), Just(256), Just(DEFAULT_MAX_MESSAGE_BYTES)]) {
        fuzz::check_stream(&bytes, &cuts, max);
    }

    #[test]
    fn valid_streams_decode_the_same_however_split((bytes, values, _) in stream(), cuts in cuts()) {
        let got = fuzz::decode(&bytes, &cuts, DEFAULT_MAX_MESSAGE_BYTES);
        prop_assert_eq!(got, fuzz::Decoded { messages: values, failed: false });
        fuzz::check_stream(&bytes, &cuts, DEFAULT_MAX_MESSAGE_BYTES);
    }

    #[test]
    fn truncated_streams_give_a_prefix((bytes, values, ends) in stream(), at in any::<prop::sample::Index>(),
                                       cuts in cuts()) {
        let at = if bytes.is_empty() { 0 } else { at.index(bytes.len() + 1) };
        let got = fuzz::decode(&bytes[..at], &cuts, DEFAULT_MAX_MESSAGE_BYTES);
        let complete = ends.iter().filter(|e| **e <= at).count();
        prop_assert_eq!(got, fuzz::Decoded { messages: values[..complete].to_vec(), failed: false });
    }

    #[test]
    fn garbled_streams_keep_the_messages_before_the_damage(
        (bytes, values, ends) in stream(), at in any::<prop::sample::Index>(), byte in any::<u8>(),
        how in 0u8..3, cuts in cuts(),
    ) {
        prop_assume!(!bytes.is_empty());
        let at = at.index(bytes.len());
        let mut garbled = bytes.clone();
        match how {
            0 => garbled[at] = byte,
            1 => garbled.insert(at, byte),
            _ => { garbled.remove(at); }
        }
        let got = fuzz::decode(&garbled, &cuts, DEFAULT_MAX_MESSAGE_BYTES);
        let intact = ends.iter().filter(|e| **e <= at).count();
        prop_assert!(got.messages.len() >= intact, "{} of {} intact messages", got.messages.len(), intact);
        prop_assert_eq!(&got.messages[..intact], &values[..intact]);
        fuzz::check_stream(&garbled, &cuts, DEFAULT_MAX_MESSAGE_BYTES);
    }

    #[test]
    fn messages_over_a_small_limit_fail_and_the_others_pass((bytes, values, ends) in stream(), cuts in cuts(),
                                                           max in 1usize..400) {
        let got = fuzz::decode(&bytes, &cuts, max);
        let mut start = 0;
        let mut fit = 0;
        for end in &ends {
            // Leading whitespace is not part of a message.
            let text = &bytes[start..*end];
            let len = text.len() - text.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if len > max { break; }
            fit += 1;
            start = *end;
        }
        prop_assert_eq!(&got.messages[..], &values[..fit]);
        prop_assert_eq!(got.failed, fit < values.len());
    }
}
