//! The interactive prompt (`rustyline`: line editing, history in `~/.neutrino_shell_history`,
//! tab completion of commands, bridges, interfaces, VM IPs, namespaces and the API's names and
//! ids, read when the shell starts and after each command).

use std::borrow::Cow;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context as RlContext, Editor, Helper};

use neutrino_inspect::source::HostSource;
use neutrino_inspect::views::switch::Switch;

use super::Context;
use super::commands::{self, COMMANDS, Confirm};
use crate::error::CliError;

/// What can be completed, per kind.
#[derive(Default)]
struct Words {
    bridges: Vec<String>,
    /// Interfaces, VM IPs, port names and ids, router and network names, namespaces.
    things: Vec<String>,
    hosts: Vec<String>,
}

struct ShellHelper {
    words: Words,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &RlContext<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
        let word = &head[start..];
        let before: Vec<&str> = head[..start].split_whitespace().collect();
        let pool: Vec<&str> = match before.as_slice() {
            [] => COMMANDS.iter().map(|(c, _)| *c).collect(),
            ["show" | "dump" | "addflow" | "delflow"] => {
                self.words.bridges.iter().map(String::as_str).collect()
            }
            ["host"] => self.words.hosts.iter().map(String::as_str).collect(),
            ["ns"] => vec!["list", "show"],
            _ => self.words.things.iter().map(String::as_str).collect(),
        };
        let mut hits: Vec<Pair> = pool
            .into_iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair { display: c.to_string(), replacement: c.to_string() })
            .collect();
        hits.sort_by(|a, b| a.display.cmp(&b.display));
        hits.dedup_by(|a, b| a.display == b.display);
        Ok((start, hits))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(&'s self, prompt: &'p str, _default: bool) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

fn words(cx: &Context) -> Words {
    let host = cx.host();
    let mut w = Words { hosts: cx.hosts.iter().map(|h| h.host.clone()).collect(), ..Words::default() };
    if let Ok(sw) = Switch::read(host) {
        for b in &sw.bridges {
            w.bridges.push(b.name.clone());
            w.things.extend(b.ports.iter().map(|p| p.name.clone()));
        }
    }
    if let Ok(ns) = host.namespaces() {
        w.things.extend(ns);
    }
    if let Ok(cloud) = cx.cloud() {
        for p in &cloud.ports {
            w.things.push(p.id.clone());
            w.things.extend(p.ips().map(str::to_string));
            if !p.name.is_empty() {
                w.things.push(p.name.clone());
            }
        }
        w.things.extend(cloud.routers.iter().map(|r| r.name.clone()).filter(|n| !n.is_empty()));
        w.things.extend(cloud.networks.iter().map(|n| n.name.clone()).filter(|n| !n.is_empty()));
        w.things.extend(cloud.floatingips.iter().map(|f| f.floating_ip_address.clone()));
    }
    w
}

/// The prompt loop; errors of a command are printed and the shell goes on.
pub fn interactive(cx: &mut Context, format: &str, confirm: &mut Confirm) -> Result<(), CliError> {
    let mut rl: Editor<ShellHelper, rustyline::history::DefaultHistory> =
        Editor::new().map_err(|e| CliError::Usage(format!("cannot start the prompt: {e}")))?;
    rl.set_helper(Some(ShellHelper { words: words(cx) }));
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".neutrino_shell_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!(
        "neutrino shell on {} ({} hosts readable); `help` lists the commands.",
        cx.host().host,
        cx.hosts.len()
    );
    loop {
        let prompt = format!("neutrino:{}> ", cx.host().host);
        match rl.readline(&prompt) {
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line);
                if matches!(line, "exit" | "quit") {
                    break;
                }
                let w = commands::split(line);
                let w: Vec<&str> = w.iter().map(String::as_str).collect();
                match commands::run(cx, &w, format, confirm) {
                    Ok(s) => print!("{s}"),
                    Err(e) => eprintln!("Error: {e}"),
                }
                if let Some(h) = rl.helper_mut() {
                    h.words = words(cx);
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Usage(format!("prompt: {e}"))),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}
