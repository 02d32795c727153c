//! Argument parsing shared by the subcommands: file types (`-t`), worker threads (`--threads`), and
//! the evaluation engine's device and memory budget (`--device`, `--max-memory`).

use quantize::ftype::{FileType, FTYPE_ALIASES, FTYPE_TABLE};

/// Whether ggufkit can write this file type: its main tensor type and every other grid i-quant
/// its mix can choose ([`FileType::mix_grid_iquants`]) have quantization kernels
/// ([`quantize::supports`]), so kernels added to the quantize crate show up here by themselves.
pub fn can_write(ft: FileType) -> bool {
    ft.default_type().is_some_and(quantize::supports) && ft.mix_grid_iquants().iter().all(|&t| quantize::supports(t))
}

/// The file type names ggufkit can write, in llama.cpp's order, aliases last.
pub fn writable_type_names() -> Vec<&'static str> {
    FTYPE_TABLE
        .iter()
        .filter(|r| can_write(r.ftype))
        .map(|r| r.name)
        .chain(FTYPE_ALIASES.iter().filter(|(_, f)| can_write(*f)).map(|(a, _)| *a))
        .collect()
}

/// Parses `-t`/`--type`: a file type name or alias (case-insensitive: `Q4_K_M`, `q8_0`, `Q4_K`),
/// or `ftype:N` for a `general.file_type` number. A bare number is refused (`-t 8` is most often
/// meant as llama.cpp's `-t` = threads), and so is a type ggufkit has no kernel for, naming the
/// supported ones.
pub fn file_type(s: &str) -> Result<FileType, String> {
    let supported = || writable_type_names().join(", ");
    let s = s.trim();
    if let Some(n) = s.strip_prefix("ftype:") {
        let id: u32 = n.parse().map_err(|_| format!("`{s}`: ftype:N takes a general.file_type number, e.g. ftype:15 (= Q4_K_M)"))?;
        let ft =
            FileType::from_id(id).ok_or_else(|| format!("`{s}`: no llama.cpp file type has number {id}; supported: {}", supported()))?;
        return if can_write(ft) {
            Ok(ft)
        } else {
            Err(format!("`{s}` is {}, which ggufkit cannot write yet; supported: {}", ft.name(), supported()))
        };
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{s}` is not a type: did you mean --threads {s}? (-t/--type is the output type, e.g. -t Q4_K_M; a general.file_type number is written ftype:{s})"
        ));
    }
    let known = FTYPE_TABLE
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(s))
        .map(|r| r.ftype)
        .or_else(|| FTYPE_ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(s)).map(|(_, f)| *f));
    match known {
        Some(ft) if can_write(ft) => Ok(ft),
        Some(ft) => match ft
            .mix_grid_iquants()
            .iter()
            .find(|&&t| !quantize::supports(t))
            .filter(|_| ft.default_type().is_some_and(quantize::supports))
        {
            // The main type has a kernel, a type of its mix has none.
            Some(t) => Err(format!(
                "{} files give some tensors {t}, which has no quantization kernel in ggufkit yet; supported: {}",
                ft.name(),
                supported()
            )),
            None => Err(format!("{} has no quantization kernel in ggufkit yet; supported: {}", ft.name(), supported())),
        },
        None => Err(format!("unknown type `{s}`; supported: {}", supported())),
    }
}

/// Runs `f` on `threads` worker threads; `None` or `Some(0)` means all cores.
pub fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    match threads {
        Some(n) if n > 0 => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| anyhow::anyhow!("cannot start {n} worker threads: {e}"))?;
            Ok(pool.install(f))
        }
        _ => Ok(f()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_ftype_numbers() {
        assert_eq!(file_type("q4_k_m"), Ok(FileType::MostlyQ4_K_M));
        assert_eq!(file_type("Q4_K"), Ok(FileType::MostlyQ4_K_M));
        assert_eq!(file_type("ftype:15"), Ok(FileType::MostlyQ4_K_M));
        assert_eq!(file_type("F16"), Ok(FileType::MostlyF16));
    }

    #[test]
    fn a_bare_number_asks_about_threads() {
        let e = file_type("8").unwrap_err();
        assert!(e.contains("did you mean --threads 8?"), "{e}");
    }

    #[test]
    fn types_without_a_kernel_are_refused_with_the_supported_list() {
        for r in FTYPE_TABLE.iter().filter(|r| !can_write(r.ftype)) {
            let e = file_type(r.name).unwrap_err();
            assert!(e.contains("supported: ") && e.contains("Q4_K_M"), "{}: {e}", r.name);
        }
        assert!(file_type("Q9_Z").unwrap_err().contains("supported: "));
        assert!(writable_type_names().iter().all(|n| file_type(n).is_ok()));
    }
}

/// Where validate's engine runs and how much memory it may take (`validate`, `imatrix`).
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Memory the evaluation may use on the device (e.g. 7G, 7.5GiB, 800M): a model is held
    /// resident when it fits, else streamed one block at a time. Default: the GPU's free memory
    /// (CUDA) or the available RAM (CPU), minus 512 MiB.
    #[arg(long)]
    pub max_memory: Option<crate::size::Size>,
}

impl EngineArgs {
    /// The device named by `--device`.
    pub fn device(&self) -> anyhow::Result<validate::Device> {
        Ok(validate::device::select(&self.device)?)
    }

    /// `--max-memory` in bytes.
    pub fn max_memory_bytes(&self) -> Option<u64> {
        self.max_memory.as_ref().map(|m| m.bytes)
    }
}

/// A byte budget for a per-tensor mix (`convert`, `quantize`): `--size`, `--bpw` or `--fit`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BudgetArgs {
    /// Choose each tensor's type (standard ggml types, by measured sensitivity) so that the whole
    /// file is at most this size, e.g. 4.5GiB; the mix is written as `ggufkit.mix`.
    #[arg(long, value_name = "SIZE", conflicts_with_all = ["bpw", "fit"])]
    pub size: Option<crate::size::Size>,
    /// As --size, for a number of bits per weight over all tensor data, e.g. 4.8.
    #[arg(long, value_name = "BITS", conflicts_with = "fit")]
    pub bpw: Option<f64>,
    /// As --size, for the best file that runs fully on a GPU of this memory at --ctx (plan's
    /// memory model: weights + KV cache + compute buffer + 600 MiB kept free), e.g. 8GiB.
    #[arg(long, value_name = "VRAM")]
    pub fit: Option<crate::size::Size>,
    /// Context (tokens) for --fit.
    #[arg(long, value_name = "N", default_value_t = 4096, requires = "fit")]
    pub ctx: u64,
}

impl BudgetArgs {
    /// The budget asked for, if any.
    pub fn budget(&self) -> anyhow::Result<Option<crate::fit::Budget>> {
        use crate::fit::Budget;
        Ok(match (&self.size, self.bpw, &self.fit) {
            (Some(s), _, _) => Some(Budget::Size(s.clone())),
            (_, Some(b), _) if !(b.is_finite() && b > 0.0) => anyhow::bail!("--bpw {b}: expected a positive number of bits per weight"),
            (_, Some(b), _) => Some(Budget::Bpw(b)),
            (_, _, Some(_)) if !(1..=crate::plan::memory::MAX_CTX).contains(&self.ctx) => {
                anyhow::bail!("--ctx {}: llama.cpp takes 1 to {} tokens", self.ctx, crate::plan::memory::MAX_CTX)
            }
            (_, _, Some(v)) => Some(Budget::Fit { vram: v.clone(), ctx: self.ctx }),
            _ => None,
        })
    }
}
