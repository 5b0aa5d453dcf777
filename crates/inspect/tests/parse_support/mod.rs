//! Mutations of real fixtures for the parsers' "never panics" property tests: random
//! truncation, deleted, duplicated and inserted characters and lines, swapped lines.

use proptest::prelude::*;

/// The texts of a `[(name, text)]` fixture table, as a constant array.
#[macro_export]
macro_rules! fixture_texts {
    ($fixtures:ident) => {{
        let mut out = [""; $fixtures.len()];
        let mut i = 0;
        while i < $fixtures.len() {
            out[i] = $fixtures[i].1;
            i += 1;
        }
        out
    }};
}
use proptest::sample::Index;

/// Characters that mean something to one of the parsers, so insertions hit their edge cases.
const SPECIAL: &[char] = &[
    '(', ')', ',', '=', ' ', '\n', '.', '-', '>', '"', '[', ']', '{', '}', ':', '0', '9', 'x', '|', '\\', 'é',
];

#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    DeleteChar(Index),
    DuplicateChar(Index),
    InsertChar(Index, char),
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![prop::sample::select(SPECIAL), any::<char>()];
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        any::<Index>().prop_map(Edit::DeleteChar),
        any::<Index>().prop_map(Edit::DuplicateChar),
        (any::<Index>(), ch).prop_map(|(i, c)| Edit::InsertChar(i, c)),
        any::<Index>().prop_map(Edit::DeleteLine),
        any::<Index>().prop_map(Edit::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<Index>(), ".{0,40}").prop_map(|(i, l)| Edit::InsertLine(i, l)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match edit {
        Edit::Truncate(i) => chars.truncate(at(i, chars.len())),
        Edit::DeleteChar(i) if !chars.is_empty() => {
            chars.remove(at(i, chars.len()));
        }
        Edit::DuplicateChar(i) if !chars.is_empty() => {
            let k = at(i, chars.len());
            chars.insert(k, chars[k]);
        }
        Edit::InsertChar(i, c) => chars.insert(at(i, chars.len() + 1), *c),
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(at(i, lines.len()));
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let k = at(i, lines.len());
            lines.insert(k, lines[k].clone());
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (at(a, lines.len()), at(b, lines.len()));
            lines.swap(a, b);
        }
        Edit::InsertLine(i, l) => lines.insert(at(i, lines.len() + 1), l.clone()),
        _ => {}
    }
    match edit {
        Edit::Truncate(_) | Edit::DeleteChar(_) | Edit::DuplicateChar(_) | Edit::InsertChar(..) => {
            chars.into_iter().collect()
        }
        _ => lines.join("\n"),
    }
}

/// One of `fixtures` with one to four random edits.
pub fn mutated(fixtures: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(fixtures), prop::collection::vec(edit(), 1..5))
        .prop_map(|(text, edits)| edits.iter().fold(text.to_string(), |t, e| apply(&t, e)))
}

/// Any text: printable strings and raw bytes read lossily.
pub fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}
