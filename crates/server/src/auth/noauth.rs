//! `noauth` mode, for development: the caller is whoever the `X-Project-Id`, `X-User-Id` and
//! `X-Roles` headers say (upstream `auth_strategy = noauth`); without a project, an admin.

use axum::http::HeaderMap;
use neutrino_model::ApiError;

use super::{Authenticator, BoxFuture};
use crate::context::RequestContext;

pub struct NoAuth;

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// The context the headers describe.
pub fn context_from_headers(h: &HeaderMap) -> RequestContext {
    match header(h, "x-project-id") {
        None => RequestContext::admin(),
        Some(project) => {
            let roles: Vec<String> = header(h, "x-roles")
                .map(|r| {
                    r.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
                })
                .unwrap_or_else(|| vec!["member".into(), "reader".into()]);
            let user = header(h, "x-user-id").unwrap_or_else(|| format!("{project}-user"));
            RequestContext {
                user_id: user.clone(),
                user_name: user,
                project_id: project.clone(),
                project_name: project,
                roles,
            }
        }
    }
}

impl Authenticator for NoAuth {
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<RequestContext, ApiError>> {
        Box::pin(async move { Ok(context_from_headers(headers)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_project_and_roles() {
        let mut h = HeaderMap::new();
        h.insert("x-project-id", "p1".parse().unwrap());
        h.insert("x-roles", "Reader".parse().unwrap());
        let c = context_from_headers(&h);
        assert_eq!(c.project_id, "p1");
        assert!(!c.can_write() && c.can_read());
        assert!(context_from_headers(&HeaderMap::new()).is_admin());
    }
}
