//! `ggufkit batch` on a real Slurm job array: scripts/test-slurm.sh installs Debian's slurm-wlm and
//! munge when missing (about a minute here), starts munged, slurmctld and slurmd on localhost,
//! submits deploy/slurm/batch.sbatch with `sbatch --array=0-3 --wait`, checks the merged report
//! and every output against a local conversion, and stops the daemons (about 20 s once installed).

use crate::common;

use std::process::Command;

#[test]
fn a_slurm_job_array_converts_every_job_once() {
    let out = Command::new("bash")
        .arg(common::repo_root().join("scripts/test-slurm.sh"))
        .env("GGUFKIT_BIN", common::ggufkit())
        .output()
        .expect("run scripts/test-slurm.sh");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/test-slurm.sh failed:\n{log}");
    assert!(log.contains("merged report: 8 jobs, each once") && log.contains("test-slurm: ok"), "{log}");
}
