//! Operations on one collection (networks, subnets, ports, security groups and their rules,
//! routers, floating IPs): create, list (following pagination links), show, update, delete,
//! member actions (`add_router_interface`), OSC-style name-or-id lookup, and the tags
//! sub-resource.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::{Client, Error};

/// One API object as the server returns it.
pub type Object = Map<String, Value>;

/// A resource collection of the Networking API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
}

impl Kind {
    /// The body key of one object (`network`).
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::Router => "router",
            Kind::FloatingIp => "floatingip",
        }
    }

    /// The key of the list in list bodies (`networks`, `security_groups`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security_groups",
            Kind::SecurityGroupRule => "security_group_rules",
            Kind::Router => "routers",
            Kind::FloatingIp => "floatingips",
        }
    }

    /// The collection's path segment (`networks`, `security-groups`).
    pub fn path(self) -> &'static str {
        match self {
            Kind::SecurityGroup => "security-groups",
            Kind::SecurityGroupRule => "security-group-rules",
            other => other.plural(),
        }
    }

    /// The name used in messages (`Network`).
    pub fn display(self) -> &'static str {
        match self {
            Kind::Network => "Network",
            Kind::Subnet => "Subnet",
            Kind::Port => "Port",
            Kind::SecurityGroup => "Security group",
            Kind::SecurityGroupRule => "Security group rule",
            Kind::Router => "Router",
            Kind::FloatingIp => "Floating IP",
        }
    }
}

/// Operations on one collection; get it from [`Client::networks`] and friends.
#[derive(Debug, Clone, Copy)]
pub struct Resources<'a> {
    client: &'a Client,
    kind: Kind,
}

fn unwrap_key(body: Option<Value>, key: &str) -> Result<Value, Error> {
    match body {
        Some(Value::Object(mut m)) => {
            m.remove(key).ok_or_else(|| Error::Decode(format!("response has no {key:?} key")))
        }
        _ => Err(Error::Decode(format!("expected an object with a {key:?} key"))),
    }
}

fn object(v: Value) -> Result<Object, Error> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(Error::Decode(format!("expected an object, got {other}"))),
    }
}

fn string_list(v: Value) -> Result<Vec<String>, Error> {
    serde_json::from_value(v).map_err(|e| Error::Decode(format!("tags: {e}")))
}

/// The query of a `rel=next` link in a list body, if the page has one.
fn next_query(body: &Object, plural: &str) -> Option<Vec<(String, String)>> {
    let links = body.get(&format!("{plural}_links"))?.as_array()?;
    let href =
        links.iter().find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))?.get("href")?.as_str()?;
    let url = url::Url::parse(href).ok()?;
    Some(url.query_pairs().into_owned().collect())
}

impl<'a> Resources<'a> {
    pub(crate) fn new(client: &'a Client, kind: Kind) -> Self {
        Self { client, kind }
    }

    /// The collection these operations act on.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `POST /v2.0/{path}` with `{singular: body}`.
    pub async fn create(&self, body: Object) -> Result<Object, Error> {
        let k = self.kind;
        let url = self.client.url(&[k.path()], &[]);
        let resp = self.client.send(Method::POST, url, Some(&json!({ k.singular(): body }))).await?;
        object(unwrap_key(resp, k.singular())?)
    }

    /// `GET /v2.0/{path}?filters`, following `rel=next` links until the last page.
    pub async fn list(&self, filters: &[(String, String)]) -> Result<Vec<Object>, Error> {
        let plural = self.kind.plural();
        let mut query = filters.to_vec();
        let mut out = Vec::new();
        // Bounded: a server that loops its links cannot keep us here forever.
        for _ in 0..10_000 {
            let url = self.client.url(&[self.kind.path()], &query);
            let body = match self.client.send(Method::GET, url, None).await? {
                Some(Value::Object(m)) => m,
                _ => return Err(Error::Decode(format!("list of {plural} is not an object"))),
            };
            let items = match body.get(plural) {
                Some(Value::Array(a)) => a.clone(),
                _ => return Err(Error::Decode(format!("response has no {plural:?} list"))),
            };
            let empty = items.is_empty();
            for item in items {
                out.push(object(item)?);
            }
            match next_query(&body, plural) {
                Some(q) if !empty && q != query => query = q,
                _ => break,
            }
        }
        Ok(out)
    }

    /// `GET /v2.0/{path}/{id}`.
    pub async fn show(&self, id: &str) -> Result<Object, Error> {
        let k = self.kind;
        let resp = self.client.send(Method::GET, self.client.url(&[k.path(), id], &[]), None).await?;
        object(unwrap_key(resp, k.singular())?)
    }

    /// `PUT /v2.0/{path}/{id}` with `{singular: body}`.
    pub async fn update(&self, id: &str, body: Object) -> Result<Object, Error> {
        let k = self.kind;
        let url = self.client.url(&[k.path(), id], &[]);
        let resp = self.client.send(Method::PUT, url, Some(&json!({ k.singular(): body }))).await?;
        object(unwrap_key(resp, k.singular())?)
    }

    /// `DELETE /v2.0/{path}/{id}`.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        let url = self.client.url(&[self.kind.path(), id], &[]);
        self.client.send(Method::DELETE, url, None).await.map(|_| ())
    }

    /// `PUT /v2.0/{path}/{id}/{action}` with `body` as it is (member actions such as
    /// `add_router_interface` take and answer unwrapped objects).
    pub async fn action(&self, id: &str, action: &str, body: &Value) -> Result<Object, Error> {
        let url = self.client.url(&[self.kind.path(), id, action], &[]);
        match self.client.send(Method::PUT, url, Some(body)).await? {
            Some(v) => object(v),
            None => Ok(Object::new()),
        }
    }

    /// Finds one object by id or name, as OSC does: `GET` by id; when that answers 404 (or
    /// 400/403), list with `?name=` and require exactly one match.
    pub async fn find(&self, name_or_id: &str) -> Result<Object, Error> {
        match self.show(name_or_id).await {
            Ok(o) => return Ok(o),
            Err(e) if matches!(e.status(), Some(400 | 403 | 404)) => {}
            Err(e) => return Err(e),
        }
        let mut found = self.list(&[("name".to_string(), name_or_id.to_string())]).await?;
        let resource = self.kind.display();
        match found.len() {
            0 => Err(Error::NotFound { resource, name: name_or_id.to_string() }),
            1 => Ok(found.remove(0)),
            _ => Err(Error::Ambiguous { resource, name: name_or_id.to_string() }),
        }
    }

    /// The id of the object [`Resources::find`] finds.
    pub async fn find_id(&self, name_or_id: &str) -> Result<String, Error> {
        let o = self.find(name_or_id).await?;
        o.get("id")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| Error::Decode(format!("{} {name_or_id} has no id", self.kind.singular())))
    }

    /// `PUT /v2.0/{path}/{id}/tags`: replaces all tags; returns the tags now set.
    pub async fn set_tags(&self, id: &str, tags: &[String]) -> Result<Vec<String>, Error> {
        let url = self.client.url(&[self.kind.path(), id, "tags"], &[]);
        let resp = self.client.send(Method::PUT, url, Some(&json!({ "tags": tags }))).await?;
        string_list(unwrap_key(resp, "tags")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_query_is_extracted() {
        let body = json!({"networks": [], "networks_links": [
            {"rel": "previous", "href": "http://x/v2.0/networks?limit=1&marker=a&page_reverse=True"},
            {"rel": "next", "href": "http://elsewhere/v2.0/networks?name=n&limit=1&marker=b"}]});
        let q = next_query(body.as_object().unwrap(), "networks").unwrap();
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("name", "n"), ("limit", "1"), ("marker", "b")]);
        assert!(next_query(json!({"networks": []}).as_object().unwrap(), "networks").is_none());
    }

    #[test]
    fn kinds_name_their_collections() {
        assert_eq!((Kind::Subnet.singular(), Kind::Subnet.plural()), ("subnet", "subnets"));
        assert_eq!(Kind::Port.display(), "Port");
        assert_eq!((Kind::Router.singular(), Kind::Router.path()), ("router", "routers"));
        let fip = Kind::FloatingIp;
        assert_eq!((fip.singular(), fip.plural(), fip.path()), ("floatingip", "floatingips", "floatingips"));
    }
}
