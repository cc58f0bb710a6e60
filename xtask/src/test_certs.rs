//! Certificates made for the PostgreSQL server the tests start, with
//! Debian's `openssl` (which `postgresql` brings, through `ssl-cert`): a
//! CA, a server certificate it signed for `127.0.0.1` and `localhost`,
//! and a second CA that signed nothing, for the test that must refuse.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The files made, under one directory.
pub(crate) struct TestCerts {
    /// The CA that signed the server's certificate.
    pub(crate) ca: PathBuf,
    /// A CA that signed nothing the server has.
    pub(crate) other_ca: PathBuf,
    /// The server's certificate.
    pub(crate) cert: PathBuf,
    /// The server's private key (mode 0600).
    pub(crate) key: PathBuf,
}

/// One `openssl` run, quiet unless it fails.
fn openssl(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let mut command = Command::new("openssl");
    command
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::cmd::run(&mut command).map_err(|e| {
        e.or_fix("install openssl (Debian: apt-get install openssl; postgresql brings it)")
    })
}

/// A self-signed CA named `name`: `{name}.pem` and `{name}.key`.
fn ca(dir: &Path, name: &str) -> Result<(), Error> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "7",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
}

/// Makes the CAs and the server's certificate in `dir`.
pub(crate) fn make(dir: &Path) -> Result<TestCerts, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    ca(dir, "ca")?;
    ca(dir, "other-ca")?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    )?;
    let extensions = dir.join("server.ext");
    std::fs::write(
        &extensions,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .map_err(|e| Error::new(format!("cannot write {}: {e}", extensions.display())))?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "7",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    )?;
    let key = dir.join("server.key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::new(format!("cannot restrict {}: {e}", key.display())))?;
    }
    Ok(TestCerts {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        cert: dir.join("server.pem"),
        key,
    })
}
