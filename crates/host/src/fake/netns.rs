//! The fake's namespaces ([`crate::Netns`]): a new one holds `lo` (down); deleting one
//! destroys its links and the veth peers they had elsewhere.

use crate::command::{Cmd, CmdOutput};
use crate::error::{Error, Result};
use crate::fake::{FakeHost, FakeNetns, links::remove_link};
use crate::names::validate_netns;
use crate::netns::Netns;

impl Netns for FakeHost {
    fn add_netns(&self, name: &str) -> Result<()> {
        validate_netns(name)?;
        self.transact(|s| {
            if s.namespaces.contains_key(name) {
                return Err(Error::NetnsExists(name.into()));
            }
            s.namespaces.insert(name.into(), FakeNetns::new());
            Ok(())
        })
    }

    fn delete_netns(&self, name: &str) -> Result<()> {
        validate_netns(name)?;
        self.transact(|s| {
            let ns = s.namespaces.get(name).ok_or_else(|| Error::NoSuchNetns(name.into()))?;
            let links: Vec<String> = ns.links.keys().cloned().collect();
            for link in links {
                remove_link(s, Some(name), &link);
            }
            s.namespaces.remove(name);
            Ok(())
        })
    }

    fn list_netns(&self) -> Result<Vec<String>> {
        Ok(self.lock().namespaces.keys().cloned().collect())
    }

    fn run(&self, cmd: &Cmd) -> Result<CmdOutput> {
        if let Some(ns) = &cmd.netns {
            validate_netns(ns)?;
            self.lock().ns(Some(ns))?;
        }
        let handlers = self.handlers.lock().unwrap_or_else(|e| e.into_inner());
        let program = crate::process::program_name(&cmd.program);
        match handlers.iter().find(|(p, _)| *p == program) {
            Some((_, handler)) => Ok(handler(cmd)),
            None => Err(Error::Unsupported(format!("the fake has no handler for `{cmd}`"))),
        }
    }
}
