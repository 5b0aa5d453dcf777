//! Standard attributes shared by every resource (description, project, timestamps, revision,
//! tags: `standard-attr-*` and `project-id` extensions) and the timestamp format of the API.

use serde_json::{Map, Value, json};

/// The standard attributes of a stored resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Standard {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: i64,
    pub tags: Vec<String>,
}

impl Standard {
    /// Writes the standard attributes into a response object (`tenant_id` mirrors `project_id`).
    pub fn write(&self, m: &mut Map<String, Value>) {
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("description".into(), json!(self.description));
        m.insert("project_id".into(), json!(self.project_id));
        m.insert("tenant_id".into(), json!(self.project_id));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("updated_at".into(), json!(self.updated_at));
        m.insert("revision_number".into(), json!(self.revision_number));
        m.insert("tags".into(), json!(self.tags));
    }
}

/// Now, in the API's timestamp format `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A fresh resource id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
