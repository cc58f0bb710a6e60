//! The secrets of a server's settings (environment values, header values,
//! the URL's user, password and query values), scrubbed out of every text
//! built from what the server or its transport said.

use crate::options::Transport;
use reqwest::Url;
use serde_json::Value;

/// Values shorter than this are not scrubbed: replacing every `1` or `on`
/// would garble the text, and so short a value protects nothing.
const MIN_SECRET_LEN: usize = 4;

/// A line of a secret of several lines shorter than this is not
/// scrubbed on its own (a `{`, a `}`).
const MIN_LINE_LEN: usize = 8;

/// What replaces a secret.
const HIDDEN: &str = "***";

/// `text` with each of `values` (longest first) replaced by [`HIDDEN`].
fn hide(mut text: String, values: &[String]) -> String {
    for value in values {
        if text.contains(value.as_str()) {
            text = text.replace(value.as_str(), HIDDEN);
        }
    }
    text
}

/// The most of one text built from a server's output (a transport error,
/// a JSON-RPC error's message) shown, in characters.
pub(crate) const TEXT_LIMIT: usize = 2_000;

/// The secrets of one server's settings, longest first (so a secret that
/// holds another is replaced whole).
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    /// Whole URLs, each with what replaces it (the URL without
    /// credentials), as the configuration and as reqwest write them.
    urls: Vec<(String, String)>,
    /// Credentials: header values, the URL's parts, values given as
    /// secrets, and environment values whose names say they are keys.
    values: Vec<String>,
    /// The settings' other values (an environment value such as a
    /// directory): kept out of the texts built from what the server said,
    /// but not out of its tools' answers, where they are data.
    settings: Vec<String>,
}

/// Whether an environment variable named `name` holds a credential, by
/// its name (`GITHUB_TOKEN`, `OPENAI_API_KEY`, `DB_PASSWORD`, `GH_PAT`,
/// `SENTRY_DSN`, `MYSQL_PWD`, `JSESSIONID`, `apiKey2`): a word of it that
/// holds a word that says so, but for the few common words that hold one
/// by chance (`GIT_AUTHOR_NAME`'s `AUTHOR`, `KEYBOARD`), or a short word
/// that says so on its own (`PAT`, not `PATH`; `MYSQL_PWD`, not the
/// working directory's `PWD`).
pub(crate) fn names_a_credential(name: &str) -> bool {
    const ANYWHERE: &[&str] = &[
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "AUTH",
        "CRED",
        "JWT",
        "BEARER",
        "COOKIE",
        "SESSION",
        "PRIVATE",
        "SIGNATURE",
        "WEBHOOK",
    ];
    const ALONE: &[&str] = &["PAT", "PASS", "DSN", "PWD"];
    // Words that hold one of `ANYWHERE` and name no credential.
    const BY_CHANCE: &[&str] = &[
        "AUTHOR",
        "AUTHORS",
        "AUTHORED",
        "KEYBOARD",
        "KEYBOARDS",
        "KEYSPACE",
        "KEYWORD",
        "KEYWORDS",
        "MONKEY",
        "TURKEY",
    ];
    let name = name.to_ascii_uppercase();
    let mut words = name.split(|c: char| !c.is_ascii_alphanumeric());
    words.any(|word| {
        let says_so = ANYWHERE.iter().any(|marker| word.contains(marker));
        (says_so && !BY_CHANCE.contains(&word)) || (name != "PWD" && ALONE.contains(&word))
    })
}

/// Whether `value`, named a credential, protects nothing: a switch
/// (`AUTH_ENABLED=true`), or a count whose name says it is one
/// (`MAX_TOKENS=4096`, `SESSION_TIMEOUT=300`): hidden, it would garble
/// every answer that holds the word or the number. A number named only
/// as a credential (`REDIS_PASSWORD=123456`) stays a secret.
fn protects_nothing(name: &str, value: &str) -> bool {
    const SWITCHES: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null",
    ];
    const COUNTS: &[&str] = &[
        "MAX", "MIN", "LIMIT", "COUNT", "SIZE", "NUM", "NUMBER", "LENGTH", "TIMEOUT", "TTL", "PORT",
    ];
    let value = value.trim();
    let counted = name
        .to_ascii_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| COUNTS.contains(&word));
    SWITCHES.iter().any(|s| value.eq_ignore_ascii_case(s))
        || (counted && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `value`, whatever names it, looks like a secret: one of its
/// words has 8 or more characters with a digit (`Sup3rS3cret`, a key, a
/// session id, the token after `Bearer`), or 20 or more; where `true`,
/// `json` or `text/event-stream` do not.
fn looks_like_a_secret(value: &str) -> bool {
    value.split([' ', ',', ';']).any(|word| {
        let chars = word.chars().count();
        chars >= 20 || (chars >= 8 && word.chars().any(|c| c.is_ascii_digit()))
    })
}

impl Secrets {
    /// The secrets `transport` was given.
    pub(crate) fn of(transport: &Transport) -> Self {
        let mut secrets = Self::default();
        match transport {
            Transport::Stdio {
                args,
                env,
                inherited,
                ..
            } => {
                secrets.add_args(args);
                for (name, value) in env {
                    secrets.add_named(name, value);
                }
                // Passed from klieo's own environment by name: known by
                // their names as the server's own are.
                for (name, value) in inherited.passed() {
                    secrets.add_named(name, &value);
                }
            }
            Transport::Http { url, headers } => {
                for (name, value) in headers {
                    // A credential by its header's name, or by its look
                    // (`Accept: text/event-stream` is data an answer
                    // may hold; `X-Token: 9f2c…` is not).
                    if !names_a_credential(name) && !looks_like_a_secret(value) {
                        secrets.add_setting(value);
                        continue;
                    }
                    secrets.add(value);
                    // `Bearer <token>`: the token alone, as a server echoes it.
                    if let Some((_, token)) = value.trim().split_once(' ') {
                        secrets.add(token);
                    }
                }
                secrets.add_url(url);
            }
        }
        secrets.order();
        secrets
    }

    /// Adds `values` to the secrets, as credentials.
    pub(crate) fn add_values(&mut self, values: &[String]) {
        for value in values {
            self.add(value);
        }
        self.order();
    }

    /// Adds `named` (a variable's name and value) to the secrets: a
    /// credential when its name says so, else a setting.
    pub(crate) fn add_named_values(&mut self, named: &[(String, String)]) {
        for (name, value) in named {
            self.add_named(name, value);
        }
        self.order();
    }

    fn add_named(&mut self, name: &str, value: &str) {
        if names_a_credential(name) && !protects_nothing(name, value) {
            self.add(value);
            return;
        }
        self.add_url_credentials(value);
        self.add_setting(value);
    }

    /// The credentials of a URL in `value`, whatever names it: its
    /// password, and a query value its key names a credential of
    /// (`DATABASE_URL=postgres://app:pw@db/prod`); its user and other
    /// parameters are settings, as the rest of it.
    fn add_url_credentials(&mut self, value: &str) {
        let Ok(url) = Url::parse(value.trim()) else {
            return;
        };
        if let Some(password) = url.password() {
            self.add(password);
        }
        for (key, value, written) in klieo_http::url::query_params(&url) {
            if names_a_credential(&key) {
                self.add(&value);
                self.add(written);
            }
        }
    }

    /// The credentials a server's command line carries: a URL's (the
    /// reference PostgreSQL server takes `postgresql://app:pw@db/prod`
    /// as an argument), and the value of a flag whose name says it is one
    /// (`--api-key=…`, or `--token …` as two arguments) when it also
    /// looks like one: `--auth-mode oauth` names no secret.
    fn add_args(&mut self, args: &[String]) {
        let mut flagged = false;
        for arg in args {
            if std::mem::take(&mut flagged) && looks_like_a_secret(arg) {
                self.add(arg);
                continue;
            }
            match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with('-') => {
                    match names_a_credential(flag) && looks_like_a_secret(value) {
                        true => self.add(value),
                        false => self.add_url_credentials(value),
                    }
                }
                _ if arg.starts_with('-') => flagged = names_a_credential(arg),
                _ => self.add_url_credentials(arg),
            }
        }
    }

    /// Adds `value` as a setting: kept out of texts built from what the
    /// server said, not out of its tools' answers.
    fn add_setting(&mut self, value: &str) {
        if value.trim().len() >= MIN_SECRET_LEN {
            self.settings.push(value.trim().to_owned());
        }
    }

    /// Longest first, each once.
    fn order(&mut self) {
        for list in [&mut self.values, &mut self.settings] {
            list.sort_by_key(|v| std::cmp::Reverse(v.len()));
            list.dedup();
        }
    }

    fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() >= MIN_SECRET_LEN {
            self.values.push(value.to_owned());
        }
        // A secret of several lines (a PEM key, pretty-printed JSON)
        // reaches a text read line by line (stderr) a line at a time:
        // each of its lines is a secret too.
        if value.contains('\n') {
            let lines = value.lines().map(str::trim);
            let pieces = lines.filter(|line| line.len() >= MIN_LINE_LEN);
            self.values.extend(pieces.map(str::to_owned));
        }
    }

    /// The URL's parts that may be credentials, each on its own: reqwest
    /// writes a URL without its user, so the whole configured text is
    /// never found in its errors.
    fn add_url(&mut self, raw: &str) {
        let raw = raw.trim();
        let Ok(url) = Url::parse(raw) else {
            // Unparsed, the text may hold anything: it is the secret.
            self.add(raw);
            return;
        };
        let safe = klieo_http::url::safe_url(&url).to_string();
        for whole in [raw, url.as_str()] {
            if whole != safe {
                self.urls.push((whole.to_owned(), safe.clone()));
            }
        }
        self.add(url.username());
        if let Some(password) = url.password() {
            self.add(password);
        }
        for (key, value, written) in klieo_http::url::query_params(&url) {
            if names_a_credential(&key) || looks_like_a_secret(&value) {
                self.add(&value);
                self.add(written);
            } else {
                self.add_setting(&value);
                self.add_setting(written);
            }
        }
        if let Some(fragment) = url.fragment() {
            self.add(fragment);
        }
    }

    /// `text` without any secret or setting's value.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let text = self.without_credentials(text);
        hide(text, &self.settings)
    }

    /// `text` without any credential.
    pub(crate) fn without_credentials(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (whole, safe) in &self.urls {
            if text.contains(whole.as_str()) {
                text = text.replace(whole.as_str(), safe);
            }
        }
        hide(text, &self.values)
    }

    /// `value` with every credential taken out of each of its strings
    /// (keys and values): a tool's answer that echoes one (a tool that
    /// shows its settings) reaches the model and the episodes without it.
    /// The settings' other values stay: in an answer they are data (a
    /// path under the directory the server was given).
    pub(crate) fn scrub_value(&self, value: Value) -> Value {
        if self.urls.is_empty() && self.values.is_empty() {
            return value;
        }
        match value {
            Value::String(text) => Value::String(self.without_credentials(&text)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.scrub_value(v)).collect())
            }
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (self.without_credentials(&k), self.scrub_value(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// `text` without any secret, then cut to `limit` characters (scrubbed
    /// first: a secret across the cut would keep its start).
    pub(crate) fn shown(&self, text: &str, limit: usize) -> String {
        klieo_types::text::bounded(&self.scrub(text), limit)
    }

    /// Every text scrubbed away.
    fn all(&self) -> impl Iterator<Item = &str> {
        let urls = self.urls.iter().map(|(whole, _)| whole.as_str());
        urls.chain(self.values.iter().chain(&self.settings).map(String::as_str))
    }

    /// How many bytes [`shown_start`](Self::shown_start) reads to show
    /// `limit` characters: as many as they can take, and the longest
    /// secret, so that one across the cut is whole when it is replaced.
    pub(crate) fn read_for(&self, limit: usize) -> usize {
        let longest = self.all().map(str::len).max().unwrap_or(0);
        limit.saturating_mul(4).saturating_add(longest)
    }

    /// The start of `bytes` (a server's output, of any length) as
    /// [`shown`](Self::shown) shows it: read as far past `limit`
    /// characters as the longest secret runs, so that one across the cut
    /// is whole when it is replaced.
    pub(crate) fn shown_start(&self, bytes: &[u8], limit: usize) -> String {
        let read = self.read_for(limit);
        let cut = read < bytes.len();
        let mut text = self.scrub(&String::from_utf8_lossy(bytes.get(..read).unwrap_or(bytes)));
        if cut {
            let all = self.all();
            // Scrubbed secrets shrink: the read's end may now fall inside
            // the cut, holding a secret's start. It goes.
            let partial = all
                .filter_map(|secret| {
                    (1..secret.len())
                        .rev()
                        .filter(|&k| secret.is_char_boundary(k))
                        .find(|&k| secret.get(..k).is_some_and(|start| text.ends_with(start)))
                })
                .max()
                .unwrap_or(0);
            text.truncate(text.len() - partial);
        }
        klieo_types::text::bounded(&text, limit)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "scrub_tests.rs"]
mod tests;
