//! Shared pieces of the resource commands: `key=value[,key=value]` option parsing, enable/
//! disable style flag pairs, tag handling, list filters and deleting several resources.

pub mod floating_ip;
pub mod network;
pub mod port;
pub mod router;
pub mod security_group;
pub mod subnet;

use std::net::IpAddr;

use clap::Args;
use neutrino_client::{Object, Resources};
use serde_json::Value;

use crate::error::CliError;

/// Parses `k1=v1,k2=v2` where every key is one of `allowed` (`_` and `-` are interchangeable;
/// keys are returned in their `allowed` spelling). Empty values and repeated keys are errors.
pub fn parse_kv(spec: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in spec.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("expected key=value, got {part:?} (keys: {})", allowed.join(", ")));
        };
        let k = k.trim().replace('_', "-");
        let Some(key) = allowed.iter().find(|a| a.replace('_', "-") == k) else {
            return Err(format!("unknown key {k:?} (keys: {})", allowed.join(", ")));
        };
        let v = v.trim();
        if v.is_empty() {
            return Err(format!("empty value for {key}"));
        }
        if out.iter().any(|(seen, _)| seen == key) {
            return Err(format!("{key} given twice"));
        }
        out.push((key.to_string(), v.to_string()));
    }
    Ok(out)
}

/// The value of `key` in parsed pairs.
pub fn kv_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Checks that `s` is an IP address.
pub fn ip(s: &str, what: &str) -> Result<String, String> {
    s.parse::<IpAddr>().map(|_| s.to_string()).map_err(|_| format!("{what}: {s:?} is not an IP address"))
}

/// `Some(true)` for `--yes`, `Some(false)` for `--no`, `None` when neither was given.
pub fn flag_pair(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Inserts `key: value` when the option was given.
pub fn put<V: Into<Value>>(body: &mut Object, key: &str, value: Option<V>) {
    if let Some(v) = value {
        body.insert(key.to_string(), v.into());
    }
}

/// `--tag` and `--no-tag` of the `set` commands.
#[derive(Args, Debug, Default, Clone)]
pub struct SetTags {
    /// Tag to add (repeat for several).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Remove the existing tags (with --tag: replace them).
    #[arg(long)]
    pub no_tag: bool,
}

/// `--description`, `--project` and `--tag`, common to the create commands.
#[derive(Args, Debug, Default, Clone)]
pub struct CreateCommon {
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Owning project (admin).
    #[arg(long)]
    pub project: Option<String>,
    /// Tag to set (repeat for several).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

impl CreateCommon {
    /// Puts `description` and `project_id` into a POST body (tags go by `PUT .../tags`).
    pub fn put_into(&self, body: &mut Object) {
        put(body, "description", self.description.clone());
        put(body, "project_id", self.project.clone());
    }
}

/// `--project`, `--tag`, `--name` and `--long`, common to the list commands.
#[derive(Args, Debug, Default, Clone)]
pub struct ListCommon {
    /// Only resources of this project (id).
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Only resources with this name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Only resources with all these tags (repeat for several).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Show more columns.
    #[arg(long)]
    pub long: bool,
}

impl ListCommon {
    /// The query filters these options ask for.
    pub fn filters(&self) -> Vec<(String, String)> {
        let mut f = Vec::new();
        if let Some(p) = &self.project {
            f.push(("project_id".to_string(), p.clone()));
        }
        if let Some(n) = &self.name {
            f.push(("name".to_string(), n.clone()));
        }
        if !self.tags.is_empty() {
            f.push(("tags".to_string(), self.tags.join(",")));
        }
        f
    }
}

/// The tags an object should end with after `set`, or `None` to leave them alone.
pub fn wanted_tags(current: &Object, set: &SetTags) -> Option<Vec<String>> {
    if set.no_tag {
        return Some(set.tags.clone());
    }
    if set.tags.is_empty() {
        return None;
    }
    let mut tags: Vec<String> = current
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    for t in &set.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Some(tags)
}

/// The `id` of an object the server returned.
pub fn id_of(obj: &Object) -> Result<String, CliError> {
    obj.get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| CliError::Output("the server returned an object without id".into()))
}

/// Sets `tags` on a just-created object (like OSC: a `PUT …/tags` after the POST) and records
/// them in `obj`.
pub async fn tag_created(res: Resources<'_>, obj: &mut Object, tags: &[String]) -> Result<(), CliError> {
    if tags.is_empty() {
        return Ok(());
    }
    let now = res.set_tags(&id_of(obj)?, tags).await?;
    obj.insert("tags".into(), Value::from(now));
    Ok(())
}

/// The common tail of `set`: PUT the body when it is not empty, then the tags.
pub async fn apply_set(
    res: Resources<'_>,
    current: &Object,
    body: Object,
    tags: &SetTags,
) -> Result<(), CliError> {
    let id = id_of(current)?;
    if !body.is_empty() {
        res.update(&id, body).await?;
    }
    if let Some(want) = wanted_tags(current, tags) {
        res.set_tags(&id, &want).await?;
    }
    Ok(())
}

/// Deletes each name or id; reports failures one by one and fails at the end if any did.
pub async fn delete_many(res: Resources<'_>, names: &[String]) -> Result<(), CliError> {
    let mut failed = 0;
    for name in names {
        let outcome = match res.find_id(name).await {
            Ok(id) => res.delete(&id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            failed += 1;
            eprintln!("Failed to delete {} with name or ID '{name}': {e}", res.kind().singular());
        }
    }
    match failed {
        0 => Ok(()),
        _ => Err(CliError::Partial { failed, total: names.len(), what: res.kind().plural() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kv_parses_and_normalises_keys() {
        let p = parse_kv("subnet=s1,ip_address=10.0.0.5", &["subnet", "ip-address"]).unwrap();
        assert_eq!(p, vec![("subnet".into(), "s1".into()), ("ip-address".into(), "10.0.0.5".into())]);
        assert_eq!(kv_get(&p, "ip-address"), Some("10.0.0.5"));
    }

    #[test]
    fn kv_rejects_bad_syntax() {
        let allowed = &["start", "end"];
        assert!(parse_kv("start=1", allowed).is_ok());
        assert!(parse_kv("start", allowed).unwrap_err().contains("key=value"));
        assert!(parse_kv("begin=1", allowed).unwrap_err().contains("unknown key"));
        assert!(parse_kv("start=", allowed).unwrap_err().contains("empty"));
        assert!(parse_kv("start=1,start=2", allowed).unwrap_err().contains("twice"));
    }

    #[test]
    fn set_tags_add_or_replace() {
        let cur = json!({"tags": ["a"]}).as_object().unwrap().clone();
        let add = SetTags { tags: vec!["b".into(), "a".into()], no_tag: false };
        assert_eq!(wanted_tags(&cur, &add), Some(vec!["a".to_string(), "b".to_string()]));
        let replace = SetTags { tags: vec!["c".into()], no_tag: true };
        assert_eq!(wanted_tags(&cur, &replace), Some(vec!["c".to_string()]));
        assert_eq!(wanted_tags(&cur, &SetTags::default()), None);
        let clear = SetTags { tags: vec![], no_tag: true };
        assert_eq!(wanted_tags(&cur, &clear), Some(vec![]));
    }

    #[test]
    fn list_filters_from_options() {
        let l = ListCommon {
            project: Some("p".into()),
            tags: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert_eq!(l.filters(), vec![("project_id".into(), "p".into()), ("tags".into(), "a,b".into())]);
    }
}
