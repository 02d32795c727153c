//! `--shard I/N`: a deterministic part of the job list for one task of a job array.
//!
//! Every shard computes the same assignment from the whole job list (not from what is left to
//! do), so the N parts are disjoint and cover every job whatever each shard's state: the jobs,
//! heaviest predicted cost first (ties by id), each go to the least-loaded shard so far (ties to
//! the lowest index) — the longest-processing-time rule, within 4/3 of the best balance.
//!
//! Without `--shard`, I and N come from the scheduler: Slurm job arrays
//! (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`) or Kubernetes
//! Indexed Jobs (`JOB_COMPLETION_INDEX`, with the completions count in `JOB_COMPLETIONS`, which
//! the Job sets from its own `spec.completions`; see deploy/k8s/batch-job.yaml).

use super::BatchError;

/// Shard `index` (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Checks `index < count`.
    pub fn new(index: usize, count: usize, from: &str) -> Result<Shard, BatchError> {
        if count == 0 || index >= count {
            return Err(BatchError::Shard(format!("{from}: shard {index} of {count} (the index runs from 0 to N-1, N ≥ 1)")));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Shard, BatchError> {
        let bad = || BatchError::Shard(format!("--shard {s:?}: expected I/N, e.g. 0/4 (I from 0 to N-1)"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n, "--shard")
    }

    /// The shard a scheduler gives this task through the environment, if any.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, BatchError> {
        let num = |name: &str| -> Result<Option<usize>, BatchError> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| BatchError::Shard(format!("{name}={v:?} is not a number"))),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count = num("SLURM_ARRAY_TASK_COUNT")?
                .ok_or_else(|| BatchError::Shard("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not".into()))?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id
                .checked_sub(min)
                .ok_or_else(|| BatchError::Shard(format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")))?;
            return Shard::new(index, count, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (use a contiguous --array=0-N)").map(Some);
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("JOB_COMPLETIONS")?.ok_or_else(|| {
                BatchError::Shard("JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not: set it to the Job's spec.completions (see deploy/k8s/batch-job.yaml)".into())
            })?;
            return Shard::new(index, count, "JOB_COMPLETION_INDEX/JOB_COMPLETIONS").map(Some);
        }
        Ok(None)
    }
}

/// The shard of every job: `costs[j]` is job j's predicted cost, `ids[j]` its unique id.
pub fn assign(ids: &[&str], costs: &[u64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| costs[b].cmp(&costs[a]).then_with(|| ids[a].cmp(ids[b])));
    let mut load = vec![0u64; count.max(1)];
    let mut shard = vec![0; ids.len()];
    for j in order {
        let (best, _) = load.iter().enumerate().min_by_key(|&(i, &l)| (l, i)).unwrap_or((0, &0));
        shard[j] = best;
        load[best] += costs[j];
    }
    shard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_env() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        assert!(Shard::parse("5/5").is_err());
        assert!(Shard::parse("1").is_err());
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
        assert_eq!(
            Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4")])).unwrap(),
            Some(Shard { index: 3, count: 4 })
        );
        assert_eq!(
            Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "3")])).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1"), ("JOB_COMPLETIONS", "2")])).unwrap(),
            Some(Shard { index: 1, count: 2 })
        );
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1")])).is_err());
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4")])).is_err());
    }

    #[test]
    fn balanced_by_cost() {
        let ids = ["a", "b", "c", "d", "e", "f", "g"];
        let costs = [10, 1, 9, 2, 8, 7, 5];
        for count in 1..=4 {
            let s = assign(&ids, &costs, count);
            let max_load = (0..count).map(|k| (0..ids.len()).filter(|&j| s[j] == k).map(|j| costs[j]).sum::<u64>()).max().unwrap();
            // the best possible largest load, by trying every assignment
            let mut best = u64::MAX;
            for code in 0..count.pow(ids.len() as u32) {
                let mut load = vec![0; count];
                let mut c = code;
                for &cost in &costs {
                    load[c % count] += cost;
                    c /= count;
                }
                best = best.min(*load.iter().max().unwrap());
            }
            assert!(3 * max_load <= 4 * best, "{count} shards: largest load {max_load}, best {best}");
            assert_eq!(s, assign(&ids, &costs, count), "deterministic");
        }
    }
}
