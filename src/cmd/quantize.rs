//! `ggufkit quantize IN.gguf OUT.gguf -t TYPE`: re-quantizes an F32/F16/BF16 GGUF the way the
//! pinned `llama-quantize` does (`llama_model_quantize_impl` in `src/llama-quant.cpp`), so that
//! the whole output file is byte-identical to its output: same tensor order, types, metadata
//! edits and layout. One streaming pass (tensors quantized in parallel, written in order), into a
//! temporary file renamed into place at the end.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use gguf::{GgmlType, GgufFile, GgufWriter, TensorSpec};
use quantize::ftype::FileType;
use quantize::imatrix::ImatrixFile;
use quantize::policy::{self, ModelInfo, PolicyOptions, TensorRef, TypePolicy};
use quantize::{QuantizeError, Source};

/// Arguments of `ggufkit quantize`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  ggufkit quantize model-F16.gguf model-Q4_K_M.gguf -t Q4_K_M\n  ggufkit quantize model-F16.gguf model-Q4_K_M.gguf -t Q4_K_M --imatrix imatrix.gguf --threads 8\n  ggufkit modelfile model-Q4_K_M.gguf                              # then: ollama create NAME -f model-Q4_K_M.Modelfile")]
pub struct Args {
    /// Input GGUF (F32/F16/BF16 tensors), e.g. from `ggufkit convert` or convert_hf_to_gguf.py.
    pub input: PathBuf,
    /// Output GGUF.
    pub output: PathBuf,
    /// File type, as llama-quantize names it (case-insensitive): Q4_K_M, Q4_K (= Q4_K_M), Q8_0,
    /// Q5_K_S, F16, … or `ftype:N` for its general.file_type number (`ggufkit list types`).
    #[arg(short = 't', long = "type", value_parser = crate::cmd::args::file_type)]
    pub ty: FileType,
    /// Importance matrix from llama-imatrix (GGUF or legacy .dat).
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// No mix: every quantizable tensor gets the type's default tensor type.
    #[arg(long)]
    pub pure: bool,
    /// Worker threads (default, or 0: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// ggml type of output.weight (e.g. q8_0).
    #[arg(long)]
    pub output_tensor_type: Option<String>,
    /// ggml type of token_embd.weight (e.g. q8_0).
    #[arg(long)]
    pub token_embedding_type: Option<String>,
    /// Keep output.weight as it is.
    #[arg(long)]
    pub leave_output_tensor: bool,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout (`docs/json.md`) instead of the summary line on stderr.
    #[arg(long)]
    pub json: bool,
}

/// What `quantize --json` prints (`docs/json.md`).
#[derive(serde::Serialize)]
struct Summary<'a> {
    schema_version: u32,
    input: &'a Path,
    output: &'a Path,
    file_type: &'static str,
    n_tensors: usize,
    /// Tensors that got a fallback type (row length not a multiple of the block size).
    n_fallback: usize,
    /// Tensor data bytes of the input.
    input_tensor_bytes: u64,
    #[serde(flatten)]
    numbers: crate::numbers::FileNumbers,
    seconds: f64,
}

/// Runs `ggufkit quantize`.
pub fn run(args: Args) -> Result<()> {
    crate::cmd::inputs::check(&args.input, "quantize", crate::cmd::inputs::Expect::GgufFile)?;
    let ftype = args.ty;
    let ggml_type = |opt: &Option<String>, flag: &str| -> Result<Option<GgmlType>> {
        opt.as_deref()
            .map(|s| GgmlType::from_name(s).ok_or_else(|| anyhow!("{flag}: unknown ggml type {s:?} (e.g. q8_0, q6_K, f16)")))
            .transpose()
    };
    let output_tensor_type = ggml_type(&args.output_tensor_type, "--output-tensor-type")?;
    let token_embedding_type = ggml_type(&args.token_embedding_type, "--token-embedding-type")?;

    if args.output.exists() {
        if same_file(&args.input, &args.output) {
            bail!("input and output are the same file: {}", args.input.display());
        }
        if !args.force {
            bail!("{} exists; use --force to overwrite it", args.output.display());
        }
    }

    let imatrix = match &args.imatrix {
        Some(p) => {
            let m = ImatrixFile::open(p)?;
            if let Some((name, i)) = m.first_non_finite() {
                bail!("{}: importance matrix entry {name} holds a non-finite value at index {i}", p.display());
            }
            Some(m)
        }
        None => None,
    };

    let input = GgufFile::open(&args.input)?;
    let model = ModelInfo::from_metadata(input.metadata()).with_context(|| format!("{}", args.input.display()))?;
    let options = PolicyOptions {
        pure: args.pure,
        output_tensor_type,
        token_embedding_type,
        leave_output_tensor: args.leave_output_tensor,
        has_imatrix: imatrix.is_some(),
    };
    let policy = TypePolicy::new(ftype, options, &model)?;

    // ggml keeps no trailing dims of size 1 (ggml_n_dims); llama-quantize writes tensors that way.
    let dims: Vec<Vec<u64>> = input.tensors().iter().map(|t| trim_dims(&t.dims)).collect();
    let refs: Vec<TensorRef> = input
        .tensors()
        .iter()
        .zip(&dims)
        .map(|(t, d)| TensorRef { name: &t.name, dims: d, ty: t.ty })
        .collect();
    let choices = policy.choose_types(&refs).with_context(|| format!("{}", args.input.display()))?;
    let names: Vec<&str> = input.tensors().iter().map(|t| t.name.as_str()).collect();
    let order = policy::llama_tensor_order(&names);

    let mut metadata = input.metadata().to_vec();
    quantize::metadata::apply_quantize_edits(&mut metadata, ftype, imatrix.as_ref().zip(args.imatrix.as_deref()));
    let specs: Vec<TensorSpec> = order
        .iter()
        .map(|&i| TensorSpec::new(names[i], &dims[i], choices[i].ty))
        .collect();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;

    let started = std::time::Instant::now();
    let mut writer = GgufWriter::create(&args.output, &metadata, &specs)?;
    let (mut size_in, mut size_out, mut n_fallback) = (0u64, 0u64, 0usize);
    let total_in: u64 = input.tensors().iter().map(|t| t.size).sum();
    let bar = progress_bar(total_in, !args.json)?;
    let mut buf: Vec<u8> = Vec::new();
    for &i in &order {
        let info = &input.tensors()[i];
        let choice = choices[i];
        let data = input.tensor_data(info);
        if data.len() as u64 != info.size {
            bail!("{}: tensor {} data is truncated", args.input.display(), info.name);
        }
        size_in += info.size;
        bar.set_position(size_in);
        n_fallback += choice.fallback as usize;
        if choice.ty == info.ty {
            // Copied unchanged; a float tensor is still checked so that NaN/Inf never pass silently.
            if let Some(index) = first_non_finite(info.ty, data) {
                bail!("{}: tensor {}: non-finite value (NaN or Inf) at element {index} of the tensor", args.input.display(), info.name);
            }
            writer.write_tensor_data(data)?;
            size_out += info.size;
            continue;
        }
        let weights = importance(imatrix.as_ref(), &info.name, &dims[i])?;
        if weights.is_none() && policy::requires_imatrix(&info.name, choice.ty, ftype) {
            bail!("tensor {}: quantizing to {} needs importance data for it (--imatrix)", info.name, choice.ty);
        }
        let row_bytes = choice
            .ty
            .row_size(dims[i][0])
            .ok_or_else(|| anyhow!("tensor {}: row length {} does not fit type {}", info.name, dims[i][0], choice.ty))?;
        let nrows = info.n_elements() / dims[i][0];
        let out_len = usize::try_from(nrows * row_bytes).context("tensor too large")?;
        buf.resize(out_len, 0);
        pool.install(|| quantize_one(info, data, &dims[i], choice.ty, weights, &mut buf))
            .with_context(|| format!("{}: tensor {}", args.input.display(), info.name))?;
        writer.write_tensor_data(&buf)?;
        size_out += out_len as u64;
    }
    writer.finish()?;
    bar.finish_and_clear();
    let file_size = std::fs::metadata(&args.output).with_context(|| format!("{}", args.output.display()))?.len();
    let n_params: u64 = input.tensors().iter().map(|t| t.n_elements()).sum();
    let numbers = crate::numbers::FileNumbers::new(file_size, size_out, n_params);
    if args.json {
        let summary = Summary {
            schema_version: crate::numbers::SCHEMA_VERSION,
            input: &args.input,
            output: &args.output,
            file_type: ftype.name(),
            n_tensors: order.len(),
            n_fallback,
            input_tensor_bytes: size_in,
            numbers,
            seconds: started.elapsed().as_secs_f64(),
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    eprintln!(
        "quantized {} to {} as {}: {} tensors, {:.2} MiB -> {:.2} MiB, {:.2} bits/weight{}",
        args.input.display(),
        args.output.display(),
        ftype,
        order.len(),
        size_in as f64 / 1048576.0,
        size_out as f64 / 1048576.0,
        numbers.bits_per_weight,
        if n_fallback > 0 { format!(", {n_fallback} tensor(s) needed a fallback type") } else { String::new() }
    );
    Ok(())
}

/// A progress bar over the input's tensor bytes on stderr, when it is a terminal and `show`.
fn progress_bar(total: u64, show: bool) -> Result<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let target = if show && std::io::stderr().is_terminal() { indicatif::ProgressDrawTarget::stderr() } else { indicatif::ProgressDrawTarget::hidden() };
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ETA {eta}")
            .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    Ok(bar)
}

/// Quantizes one tensor (all its expert matrices) into `out`.
fn quantize_one(
    info: &gguf::TensorInfo,
    data: &[u8],
    dims: &[u64],
    ty: GgmlType,
    weights: Option<&[f32]>,
    out: &mut [u8],
) -> Result<()> {
    let ne0 = dims[0] as usize;
    let n_mat = dims.get(2..).map_or(1, |d| d.iter().product::<u64>()) as usize;
    let mat_in = data.len() / n_mat.max(1);
    let mat_out = out.len() / n_mat.max(1);
    let elems_per_mat = mat_in / bytes_per_element(info.ty)?;
    for (e, (src, dst)) in data.chunks(mat_in.max(1)).zip(out.chunks_mut(mat_out.max(1))).enumerate() {
        // Each expert matrix has its own slice of the importance matrix.
        let w = match weights {
            Some(w) => Some(w.get(e * ne0..(e + 1) * ne0).ok_or_else(|| anyhow!("importance matrix too short for matrix {e}"))?),
            None => None,
        };
        let source = match info.ty {
            GgmlType::F32 => Source::F32(src),
            GgmlType::F16 => Source::F16(src),
            GgmlType::BF16 => Source::BF16(src),
            other => bail!("input type {other} cannot be re-quantized (requantizing is disabled, as in llama-quantize)"),
        };
        quantize::quantize_tensor(ty, source, ne0, w, dst).map_err(|err| match err {
            QuantizeError::NonFinite { index } => {
                anyhow!("non-finite value (NaN or Inf) at element {} of the tensor", e * elems_per_mat + index)
            }
            other => anyhow!(other),
        })?;
    }
    Ok(())
}

/// Index of the first NaN/Inf of F32/F16/BF16 data (other types are not checked).
fn first_non_finite(ty: GgmlType, data: &[u8]) -> Option<usize> {
    match ty {
        GgmlType::F32 => data.chunks_exact(4).position(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000),
        GgmlType::F16 => data.chunks_exact(2).position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
        GgmlType::BF16 => data.chunks_exact(2).position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
        _ => None,
    }
}

fn bytes_per_element(ty: GgmlType) -> Result<usize> {
    match ty {
        GgmlType::F32 => Ok(4),
        GgmlType::F16 | GgmlType::BF16 => Ok(2),
        other => bail!("input type {other} cannot be re-quantized (requantizing is disabled, as in llama-quantize)"),
    }
}

/// The importance weights llama-quantize uses for a tensor: the entry of the same name when it
/// has `ne0 × n_expert` values. A size mismatch is an error, except for the token embedding (an
/// imatrix never has usable data for it).
fn importance<'a>(imatrix: Option<&'a ImatrixFile>, name: &str, dims: &[u64]) -> Result<Option<&'a [f32]>> {
    let Some(m) = imatrix else { return Ok(None) };
    let Some(w) = m.get(name) else { return Ok(None) };
    let expected = dims[0] * dims.get(2).copied().unwrap_or(1);
    if w.len() as u64 == expected {
        return Ok(Some(w));
    }
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        return Ok(None);
    }
    bail!(
        "{}: importance matrix entry {name} has {} values, expected {expected} for tensor shape {dims:?}",
        m.path().display(),
        w.len()
    )
}

/// Dims without trailing 1s (at least one dim), as `ggml_n_dims` counts them.
fn trim_dims(dims: &[u64]) -> Vec<u64> {
    let n = dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
    dims[..n.min(dims.len())].to_vec()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
