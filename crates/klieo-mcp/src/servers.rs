//! [`McpServers`]: several servers connected together, their tools one
//! catalogue.

use crate::error::McpError;
use crate::options::McpOptions;
use crate::server::McpServer;
use klieo_types::Toolbox;
use std::sync::Arc;

/// Several MCP servers, connected at once.
///
/// ```no_run
/// # async fn demo() -> Result<(), klieo_mcp::McpError> {
/// use klieo_mcp::{config, McpServers};
///
/// let servers = McpServers::connect(config::read("mcp.json")?).await?;
/// let tools = servers.toolbox(); // give it to `AgentBuilder::add_toolbox`
/// # drop(tools);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct McpServers {
    servers: Vec<McpServer>,
}

impl McpServers {
    /// Connects every server, all at once.
    ///
    /// # Errors
    ///
    /// The first [`McpError`] of a server that could not be connected; the
    /// servers already started are stopped.
    pub async fn connect(settings: impl IntoIterator<Item = McpOptions>) -> Result<Self, McpError> {
        let starts = settings.into_iter().map(McpServer::connect);
        let servers = futures_util::future::try_join_all(starts).await?;
        Ok(Self { servers })
    }

    /// The servers, in the order their settings came.
    pub fn servers(&self) -> &[McpServer] {
        &self.servers
    }

    /// The server called `name`.
    pub fn get(&self, name: &str) -> Option<&McpServer> {
        self.servers.iter().find(|s| s.name() == name)
    }

    /// Every server's tools in one [`Toolbox`]: a tool whose name an
    /// earlier server has already is shown with its server's prefix
    /// (`McpOptions::with_prefix`, default `{name}_`).
    pub fn toolbox(&self) -> Toolbox {
        self.servers.iter().fold(Toolbox::new(), |toolbox, server| {
            let prefix = server.settings().prefix();
            toolbox.add_shared(prefix, Arc::new(server.clone()))
        })
    }
}
