//! Running cargo: where (the workspace root), which cargo (`$CARGO`), with
//! what environment, and how (inherit the terminal, or stream-and-capture).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result};

use crate::outln;

/// The cfg flag that switches madsim-net (and everything above it) onto
/// madsim's deterministic simulator.
const MADSIM_CFG: &str = "--cfg madsim";

/// Target dir for cfg(madsim) builds, relative to the workspace root, so they
/// do not thrash the plain build in `target/`.
pub const MADSIM_TARGET_DIR: &str = "target/madsim";

/// The workspace root: `xtask/` sits directly under it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The cargo that launched us (`cargo run` sets `$CARGO`), else `cargo` on PATH.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// The user's RUSTFLAGS (if any) followed by `--cfg madsim`.
pub fn madsim_rustflags() -> String {
    append_flags(std::env::var("RUSTFLAGS").ok().as_deref(), MADSIM_CFG, ' ')
}

fn append_flags(existing: Option<&str>, extra: &str, sep: char) -> String {
    match existing.map(str::trim) {
        Some(old) if !old.is_empty() => format!("{old}{sep}{extra}"),
        _ => extra.to_string(),
    }
}

/// One cargo invocation, run from the workspace root.
#[derive(Debug, Clone)]
pub struct CargoCmd {
    label: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl CargoCmd {
    /// `label` names the step in the `==> label: ...` header.
    pub fn new<I, S>(label: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            label: label.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    /// Build under cfg(madsim): RUSTFLAGS gains `--cfg madsim`, and the build
    /// goes to its own target dir.
    pub fn madsim(mut self) -> Self {
        self.args
            .extend(["--target-dir".to_string(), MADSIM_TARGET_DIR.to_string()]);
        self.env.push(("RUSTFLAGS", madsim_rustflags()));
        self
    }

    /// `==> madsim: cargo test --workspace --target-dir target/madsim (RUSTFLAGS=--cfg madsim)`
    pub fn header(&self) -> String {
        let mut line = format!("==> {}: cargo", self.label);
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        if !self.env.is_empty() {
            let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.push_str(&format!(" ({})", env.join(", ")));
        }
        line
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(cargo_program());
        cmd.args(&self.args).current_dir(workspace_root());
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        // CARGO_ENCODED_RUSTFLAGS, when set at all, overrides RUSTFLAGS in
        // cargo; keep `--cfg madsim` effective in that case too.
        if self.env.iter().any(|(k, _)| *k == "RUSTFLAGS")
            && let Ok(encoded) = std::env::var("CARGO_ENCODED_RUSTFLAGS")
        {
            let extra = MADSIM_CFG.replace(' ', "\x1f");
            cmd.env(
                "CARGO_ENCODED_RUSTFLAGS",
                append_flags(Some(&encoded), &extra, '\x1f'),
            );
        }
        cmd
    }

    fn spawn_error(&self) -> String {
        format!(
            "{}: could not start `{}`",
            self.label,
            cargo_program().to_string_lossy()
        )
    }

    /// Print the header, run with the terminal inherited, return the status.
    pub fn run(&self) -> Result<ExitStatus> {
        outln!("{}", self.header());
        self.command().status().with_context(|| self.spawn_error())
    }

    /// Print the header, run with stdout streamed live to our stdout while
    /// also capturing it (stderr, where cargo's own messages go, is inherited).
    pub fn run_tee(&self) -> Result<(ExitStatus, String)> {
        outln!("{}", self.header());
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| self.spawn_error())?;
        let mut captured = Vec::new();
        if let Some(mut pipe) = child.stdout.take() {
            let mut out = io::stdout();
            let mut echo = true;
            let mut buf = [0u8; 8192];
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = child.wait();
                        return Err(e).with_context(|| format!("{}: reading output", self.label));
                    }
                };
                captured.extend_from_slice(&buf[..n]);
                // Keep draining even if our stdout went away, so the child
                // never blocks on a full pipe.
                if echo && (out.write_all(&buf[..n]).is_err() || out.flush().is_err()) {
                    echo = false;
                }
            }
        }
        let status = child
            .wait()
            .with_context(|| format!("{}: waiting for cargo", self.label))?;
        Ok((status, String::from_utf8_lossy(&captured).into_owned()))
    }
}

/// Quote an argument for the header only when it would be ambiguous.
fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// "exit code 101" or "signal 9".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("signal {sig}");
        }
    }
    "unknown status".to_string()
}

/// The exit code to pass on for a child's status (128+N for signal N, like a shell).
pub fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(1).max(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return u8::try_from((128 + sig) & 0xff).unwrap_or(1).max(1);
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_are_appended() {
        assert_eq!(append_flags(None, MADSIM_CFG, ' '), "--cfg madsim");
        assert_eq!(append_flags(Some("  "), MADSIM_CFG, ' '), "--cfg madsim");
        assert_eq!(
            append_flags(Some("-C target-cpu=native"), MADSIM_CFG, ' '),
            "-C target-cpu=native --cfg madsim"
        );
    }

    #[test]
    fn header_shows_args_and_env() {
        let cmd = CargoCmd::new("madsim", ["test", "--workspace"])
            .args(["name with space"])
            .env("RUSTFLAGS", "--cfg madsim");
        assert_eq!(
            cmd.header(),
            "==> madsim: cargo test --workspace 'name with space' (RUSTFLAGS=--cfg madsim)"
        );
    }

    #[test]
    fn workspace_root_holds_xtask() {
        assert!(workspace_root().join("xtask").join("Cargo.toml").is_file());
    }
}
