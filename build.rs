//! Build facts for `ggufkit --version`: the git commit of the source (when built from a git
//! checkout; `GGUFKIT_GIT_HASH` in the environment overrides it, e.g. for builds from a tarball).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GGUFKIT_GIT_HASH");
    let hash = std::env::var("GGUFKIT_GIT_HASH").ok().or_else(|| {
        let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
        Some(if dirty { format!("{hash}-modified") } else { hash })
    });
    // Rebuild when HEAD moves: HEAD itself and the branch file it points to.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
    }
    if let (Some(common), Some(branch)) = (git(&["rev-parse", "--git-common-dir"]), git(&["symbolic-ref", "-q", "HEAD"])) {
        println!("cargo:rerun-if-changed={common}/{branch}");
    }
    println!("cargo:rustc-env=GGUFKIT_GIT_HASH={}", hash.as_deref().unwrap_or("unknown"));
}
