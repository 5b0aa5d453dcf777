//! The wire shape of networks, subnets, ports, routers, security groups and their rules, floating IPs: each resource's JSON object as the caller may
//! see it (admin-only attributes stripped per [`policy::strip`]), cut to `fields=` if given.

use neutrino_model::attrs::{self, Attr};
use neutrino_model::floatingip::FloatingIp;
use neutrino_model::network::Network;
use neutrino_model::port::Port;
use neutrino_model::router::Router;
use neutrino_model::security_group::{SecurityGroup, SecurityGroupRule};
use neutrino_model::subnet::Subnet;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::service::{Page, policy};

/// A resource with its attribute map, as the API shows it.
pub(in crate::http) trait Resource {
    fn attrs() -> &'static [Attr];
    fn wire(&self) -> Map<String, Value>;
}

impl Resource for Network {
    fn attrs() -> &'static [Attr] {
        &attrs::NETWORK
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Resource for Subnet {
    fn attrs() -> &'static [Attr] {
        &attrs::SUBNET
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Resource for Port {
    fn attrs() -> &'static [Attr] {
        &attrs::PORT
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Resource for Router {
    fn attrs() -> &'static [Attr] {
        &attrs::ROUTER
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Resource for SecurityGroup {
    fn attrs() -> &'static [Attr] {
        &attrs::SECURITY_GROUP
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Resource for SecurityGroupRule {
    fn attrs() -> &'static [Attr] {
        &attrs::SECURITY_GROUP_RULE
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Resource for FloatingIp {
    fn attrs() -> &'static [Attr] {
        &attrs::FLOATINGIP
    }
    fn wire(&self) -> Map<String, Value> {
        self.to_json()
    }
}

/// The response object for `r`: without the attributes the caller may not read, restricted to
/// `fields` if any.
pub(in crate::http) fn render<R: Resource>(
    ctx: &RequestContext,
    r: &R,
    fields: &[String],
) -> Map<String, Value> {
    let mut m = r.wire();
    policy::strip(ctx, R::attrs(), &mut m);
    if !fields.is_empty() {
        m.retain(|k, _| fields.iter().any(|f| f == k));
    }
    m
}

/// The response objects for `items`, all fields.
pub(in crate::http) fn render_all<R: Resource>(ctx: &RequestContext, items: &[R]) -> Vec<Map<String, Value>> {
    items.iter().map(|r| render(ctx, r, &[])).collect()
}

/// The response objects of a page.
pub(in crate::http) fn render_page<R: Resource>(
    ctx: &RequestContext,
    page: Page<R>,
    fields: &[String],
) -> Page<Map<String, Value>> {
    page.map(|r| render(ctx, &r, fields))
}
