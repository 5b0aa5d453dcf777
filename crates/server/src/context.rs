//! Who is asking: the request context that authentication produces and policy consumes
//! (upstream `neutron_lib.context.Context`: user, project, roles).

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub user_id: String,
    pub user_name: String,
    pub project_id: String,
    pub project_name: String,
    /// Role names, lower case (`admin`, `member`, `reader`, `manager`, `service`).
    pub roles: Vec<String>,
}

impl RequestContext {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Admins see and change everything.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// The `service` role (Nova) may set port bindings.
    pub fn is_service(&self) -> bool {
        self.has_role("service")
    }

    /// Members (and managers, admins and services) may write in their project; readers may not.
    pub fn can_write(&self) -> bool {
        ["admin", "member", "manager", "service"].iter().any(|r| self.has_role(r))
    }

    /// Anyone with one of the known roles may read their project.
    pub fn can_read(&self) -> bool {
        self.can_write() || self.has_role("reader")
    }

    /// A context for tests and tools: an admin of project `admin`.
    pub fn admin() -> Self {
        Self::new("admin", &["admin", "member", "reader"])
    }

    /// A context in `project` with `roles`; the user is named after the project.
    pub fn new(project: &str, roles: &[&str]) -> Self {
        Self {
            user_id: format!("{project}-user"),
            user_name: format!("{project}-user"),
            project_id: project.to_string(),
            project_name: project.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }
}
