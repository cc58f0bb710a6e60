//! What is shown of [`McpOptions`]: `Debug` without a secret, and the
//! secrets scrubbed out of every text built from what the server said.

use super::{McpOptions, Transport};
use crate::scrub::{Secrets, TEXT_LIMIT};
use klieo_http::url::shown_base_url;
use std::fmt;

impl McpOptions {
    /// The secrets of these settings: environment and header values, the
    /// URL's user, password and query values, a configuration's `${NAME}`
    /// values, and those added ([`add_secret`](Self::add_secret)).
    pub(crate) fn secrets(&self) -> Secrets {
        let mut secrets = Secrets::of(&self.transport);
        secrets.add_values(&self.secrets);
        secrets.add_named_values(&self.expanded);
        secrets
    }

    /// `text` (built from what the server or its transport said) without
    /// any secret of these settings, cut to [`TEXT_LIMIT`] characters.
    pub(crate) fn scrub(&self, text: impl AsRef<str>) -> String {
        self.secrets().shown(text.as_ref(), TEXT_LIMIT)
    }
}

impl fmt::Debug for McpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secrets = self.secrets();
        let mut s = f.debug_struct("McpOptions");
        s.field("name", &self.name);
        match &self.transport {
            Transport::Stdio {
                command,
                args,
                env,
                inherited,
                cwd,
            } => {
                let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
                // Arguments may carry a token (`--token=${TOKEN}`): counted,
                // not shown.
                let cwd = cwd
                    .as_ref()
                    .map(|dir| secrets.scrub(&dir.to_string_lossy()));
                s.field("command", &secrets.scrub(command))
                    .field("args", &args.len())
                    .field("env", &names)
                    .field("inherited", inherited)
                    .field("cwd", &cwd);
            }
            Transport::Http { url, headers } => {
                let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
                s.field("url", &secrets.scrub(&shown_base_url(url)))
                    .field("headers", &names);
            }
        }
        s.field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("prefix", &self.prefix())
            .field("approval", &self.approval)
            .field("only", &self.only)
            .finish()
    }
}
