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
use quantize::metadata::KvOverride;
use quantize::policy::{self, ModelInfo, PolicyOptions, TensorRef, TensorTypeOverride, TypePolicy};
use quantize::{QuantizeError, Source};

/// Arguments of `ggufkit quantize`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ggufkit quantize model-F16.gguf model-Q4_K_M.gguf -t Q4_K_M\n  ggufkit quantize model-F16.gguf model-Q4_K_M.gguf -t Q4_K_M --imatrix imatrix.gguf --threads 8\n  ggufkit modelfile model-Q4_K_M.gguf                              # then: ollama create NAME -f model-Q4_K_M.Modelfile"
)]
pub struct Args {
    /// Input GGUF (F32/F16/BF16 tensors), e.g. from `ggufkit convert` or convert_hf_to_gguf.py;
    /// for a gguf-split model, its first piece (…-00001-of-0000N.gguf).
    pub input: PathBuf,
    /// Output GGUF (not needed with --dry-run).
    #[arg(required_unless_present = "dry_run")]
    pub output: Option<PathBuf>,
    /// File type, as llama-quantize names it (case-insensitive): Q4_K_M, Q4_K (= Q4_K_M), Q8_0,
    /// Q5_K_S, F16, … (`ggufkit list types`), `ftype:N` for its general.file_type number, or COPY
    /// to copy every tensor as it is.
    /// Not with --size/--bpw/--fit, which choose each tensor's type.
    #[arg(short = 't', long = "type", value_parser = quantize_to, required_unless_present_any = ["size", "bpw", "fit"], conflicts_with_all = ["size", "bpw", "fit"])]
    pub ty: Option<QuantizeTo>,
    /// --size / --bpw / --fit: a per-tensor mix under a byte budget.
    #[command(flatten)]
    pub budget: crate::cmd::args::BudgetArgs,
    /// With --size/--bpw/--fit: write every measured (tensor, type, bytes, proxy error, chosen) to
    /// this file, tab-separated.
    #[arg(long, value_name = "FILE")]
    pub sensitivity: Option<PathBuf>,
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
    /// Type of the tensors whose name matches a regular expression, instead of the mix's
    /// (repeatable, the first match wins; as llama-quantize): `--tensor-type attn_v=q8_0`,
    /// `--tensor-type 'ffn_(up|gate)=iq4_xs'`.
    #[arg(long = "tensor-type", value_name = "PATTERN=TYPE")]
    pub tensor_type: Vec<String>,
    /// Accept quantized input tensors: dequantized to f32 (as ggml's to_float) then quantized to
    /// their new type, as llama-quantize --allow-requantize (tensors keeping their type are copied).
    #[arg(long)]
    pub allow_requantize: bool,
    /// Set a metadata key in the output: `KEY=TYPE:VALUE`, TYPE one of int (written as u32 of the
    /// absolute value), float, bool, str (repeatable; as llama-quantize).
    #[arg(long = "override-kv", value_name = "KEY=TYPE:VALUE")]
    pub override_kv: Vec<String>,
    /// Remove these blocks (comma-separated numbers) and renumber the rest, as llama-quantize
    /// --prune-layers.
    #[arg(long = "prune-layers", value_name = "N,N,...")]
    pub prune_layers: Option<String>,
    /// Use importance data only for tensors whose name contains this text (repeatable).
    #[arg(long = "include-weights", value_name = "TEXT", conflicts_with = "exclude_weights")]
    pub include_weights: Vec<String>,
    /// Use no importance data for tensors whose name contains this text (repeatable).
    #[arg(long = "exclude-weights", value_name = "TEXT")]
    pub exclude_weights: Vec<String>,
    /// Write the output as gguf-split's pieces of at most N tensors each:
    /// OUTPUT-00001-of-0000K.gguf, … (OUTPUT without its .gguf), all metadata in the first.
    #[arg(long, value_name = "N", conflicts_with_all = ["split_max_size", "keep_split"])]
    pub split_max_tensors: Option<usize>,
    /// As --split-max-tensors, with at most this much tensor data per piece: N followed by M
    /// (10^6 bytes) or G (10^9 bytes), as gguf-split --split-max-size.
    #[arg(long, value_name = "N(M|G)", conflicts_with = "keep_split")]
    pub split_max_size: Option<String>,
    /// Split the output as the input is split (OUTPUT-00001-of-0000N.gguf, …, OUTPUT without its
    /// .gguf), as llama-quantize --keep-split.
    #[arg(long)]
    pub keep_split: bool,
    /// Print each tensor's type and size and the totals, as llama-quantize --dry-run; write nothing.
    #[arg(long)]
    pub dry_run: bool,
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

/// What `quantize -t` asks for: a file type, or llama-quantize's COPY.
#[derive(Debug, Clone, Copy)]
pub enum QuantizeTo {
    /// Every tensor copied as it is (llama-quantize's `COPY`).
    Copy,
    /// Quantize to this file type's mix.
    Type(FileType),
}

/// Parses `quantize -t`: COPY, or a file type as every command takes it ([`crate::cmd::args::file_type`]).
fn quantize_to(s: &str) -> Result<QuantizeTo, String> {
    if s.trim().eq_ignore_ascii_case("COPY") {
        Ok(QuantizeTo::Copy)
    } else {
        crate::cmd::args::file_type(s).map(QuantizeTo::Type)
    }
}

/// Runs `ggufkit quantize`.
pub fn run(args: Args) -> Result<()> {
    crate::cmd::inputs::check(&args.input, "quantize", crate::cmd::inputs::Expect::GgufFile)?;
    // llama-quantize's COPY: file type ALL_F32 for the policy, every tensor copied.
    let budget = args.budget.budget()?;
    if budget.is_some() && (args.prune_layers.is_some() || args.pure || !args.tensor_type.is_empty()) {
        bail!("--size/--bpw/--fit choose every tensor's type: not with --prune-layers, --pure or --tensor-type");
    }
    // With a budget the file type is decided by the mix (a placeholder until then).
    let (mut ftype, only_copy) = match args.ty {
        Some(QuantizeTo::Copy) => (FileType::AllF32, true),
        Some(QuantizeTo::Type(ft)) => (ft, false),
        None => (FileType::MostlyQ4_K_M, false),
    };
    let ggml_type = |opt: &Option<String>, flag: &str| -> Result<Option<GgmlType>> {
        opt.as_deref()
            .map(|s| GgmlType::from_name(s).ok_or_else(|| anyhow!("{flag}: unknown ggml type {s:?} (e.g. q8_0, q6_K, f16)")))
            .transpose()
    };
    let output_tensor_type = ggml_type(&args.output_tensor_type, "--output-tensor-type")?;
    let token_embedding_type = ggml_type(&args.token_embedding_type, "--token-embedding-type")?;

    let mut tensor_types = args.tensor_type.iter().map(|a| TensorTypeOverride::parse(a)).collect::<Result<Vec<_>, _>>()?;
    let prune = args.prune_layers.as_deref().map(policy::parse_prune_layers).transpose()?.unwrap_or_default();
    let overrides = args.override_kv.iter().map(|a| KvOverride::parse(a)).collect::<Result<Vec<_>, _>>()?;
    let output = match (&args.output, args.dry_run) {
        (_, true) => None,
        (Some(o), false) => Some(o.as_path()),
        (None, false) => bail!("no output file given (or use --dry-run)"),
    };
    let splitting = args.split_max_tensors.is_some() || args.split_max_size.is_some() || args.keep_split;
    if let Some(out) = output.filter(|o| o.exists() && !splitting) {
        if same_file(&args.input, out) {
            bail!("input and output are the same file: {}", args.input.display());
        }
        if !args.force {
            bail!("{} exists; use --force to overwrite it", out.display());
        }
    }

    let imatrix = match &args.imatrix {
        Some(p) => {
            let mut m = ImatrixFile::open(p)?;
            if let Some((name, i)) = m.first_non_finite() {
                bail!("{}: importance matrix entry {name} holds a non-finite value at index {i}", p.display());
            }
            // As llama-quantize: excluded entries dropped, or only included ones kept; an
            // importance matrix left without entries is not used at all.
            if !args.exclude_weights.is_empty() {
                m.retain(|k| !args.exclude_weights.iter().any(|w| k.contains(w.as_str())));
            }
            if !args.include_weights.is_empty() {
                m.retain(|k| args.include_weights.iter().any(|w| k.contains(w.as_str())));
            }
            (!m.is_empty()).then_some(m)
        }
        None => None,
    };

    let inputs = open_inputs(&args.input)?;
    let input = &inputs[0];
    let model = ModelInfo::from_metadata(input.metadata()).with_context(|| format!("{}", args.input.display()))?;
    // The input's metadata with llama-quantize's edits for a file type.
    let edited_metadata = |ftype: FileType| {
        let mut md = input.metadata().to_vec();
        quantize::metadata::apply_quantize_edits_with_overrides(&mut md, ftype, &overrides, imatrix.as_ref().zip(args.imatrix.as_deref()));
        md
    };
    let mix = match &budget {
        Some(b) => {
            if inputs.len() > 1 {
                bail!("--size/--bpw/--fit take a single-file GGUF: merge the pieces first (llama-gguf-split --merge)");
            }
            let md = edited_metadata(ftype);
            let started = std::time::Instant::now();
            let mix = pool_for(args.threads)?
                .install(|| crate::fit::choose_for_gguf(input, &args.input, &md, imatrix.as_ref(), b))
                .with_context(|| format!("{}", args.input.display()))?;
            if !args.json {
                eprintln!("{} (chosen in {:.1} s)", mix.summary(), started.elapsed().as_secs_f64());
            }
            if let Some(p) = &args.sensitivity {
                std::fs::write(p, mix.sensitivity_tsv()).with_context(|| format!("writing {}", p.display()))?;
            }
            ftype = mix.file_type;
            tensor_types = mix.overrides();
            Some(mix)
        }
        None => None,
    };
    // What the summaries call the target: llama-quantize's own name (COPY, not ALL_F32's F32).
    let target_name = if only_copy { "COPY" } else { ftype.name() };
    let options = PolicyOptions {
        pure: args.pure,
        output_tensor_type,
        token_embedding_type,
        leave_output_tensor: args.leave_output_tensor,
        has_imatrix: imatrix.is_some(),
        tensor_types,
        skip_imatrix_check: args.dry_run,
        only_copy,
    };
    let policy = TypePolicy::new(ftype, options, &model)?;

    // --prune-layers: the tensors kept (`infos`) and their names in the output.
    // Every tensor of every input piece with its piece number, in file order.
    let all: Vec<(usize, &gguf::TensorInfo)> =
        inputs.iter().enumerate().flat_map(|(p, f)| f.tensors().iter().map(move |t| (p, t))).collect();
    let (renamed, n_blocks) = policy::prune_layers(&all.iter().map(|(_, t)| t.name.as_str()).collect::<Vec<_>>(), &prune);
    let (pieces_infos, out_names): (Vec<(usize, &gguf::TensorInfo)>, Vec<String>) =
        all.iter().zip(renamed).filter_map(|(t, n)| n.map(|n| (*t, n))).unzip();
    let infos: Vec<&gguf::TensorInfo> = pieces_infos.iter().map(|(_, t)| *t).collect();
    // ggml keeps no trailing dims of size 1 (ggml_n_dims); llama-quantize writes tensors that way.
    let dims: Vec<Vec<u64>> = infos.iter().map(|t| trim_dims(&t.dims)).collect();
    let refs: Vec<TensorRef> =
        infos.iter().zip(&out_names).zip(&dims).map(|((t, name), d)| TensorRef { name, dims: d, ty: t.ty }).collect();
    let names: Vec<&str> = out_names.iter().map(|n| n.as_str()).collect();
    let llama_order = policy::llama_tensor_order(&names);
    // --keep-split walks and writes the tensors piece by piece in file order (llama-quantize sorts
    // them by piece and offset before choosing their types), else in llama's order.
    let order: Vec<usize> = if args.keep_split {
        let mut o: Vec<usize> = (0..infos.len()).collect();
        o.sort_by_key(|&i| (pieces_infos[i].0, infos[i].offset));
        o
    } else {
        llama_order.clone()
    };
    let choices = policy.choose_types_walked(&refs, &order).with_context(|| format!("{}", args.input.display()))?;

    let mut metadata = edited_metadata(ftype);
    if only_copy {
        // The input's file type (or the loader's guess), in place of ALL_F32.
        let declared = input.metadata().iter().find(|(k, _)| k == "general.file_type").and_then(|(_, v)| v.as_u32());
        let value = quantize::ftype::copy_file_type(declared, llama_order.iter().map(|&i| infos[i].ty));
        if let Some((_, v)) = metadata.iter_mut().find(|(k, _)| k == "general.file_type") {
            *v = gguf::Value::U32(value);
        }
    }
    if !prune.is_empty() {
        quantize::metadata::set(&mut metadata, &format!("{}.block_count", model.arch), gguf::Value::U32(n_blocks));
    }
    if let Some(mix) = &mix {
        quantize::metadata::set(&mut metadata, crate::fit::MIX_KEY, mix.metadata_value());
    }
    let specs: Vec<TensorSpec> = order.iter().map(|&i| TensorSpec::new(names[i], &dims[i], choices[i].ty)).collect();

    let Some(output) = output else {
        return dry_run(&infos, &args.input, ftype, target_name, &order, &choices, &dims, imatrix.is_some());
    };

    let pool = pool_for(args.threads)?;

    let started = std::time::Instant::now();
    let split = match (args.split_max_tensors, args.split_max_size.as_deref()) {
        (Some(n), _) if n > 0 => Some(SplitBy::Tensors(n)),
        (Some(_), _) => bail!("--split-max-tensors must be at least 1"),
        (None, Some(s)) => Some(SplitBy::Bytes(split_size(s)?)),
        (None, None) if args.keep_split => Some(SplitBy::Pieces(order.iter().map(|&i| pieces_infos[i].0).collect())),
        (None, None) => None,
    };
    let mut writer = SplitWriter::create(output, &metadata, specs, split, args.force)?;
    let (mut size_in, mut size_out, mut n_fallback) = (0u64, 0u64, 0usize);
    let total_in: u64 = input.tensors().iter().map(|t| t.size).sum();
    let bar = progress_bar(total_in, !args.json)?;
    let mut buf: Vec<u8> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let info = infos[i];
        let choice = choices[i];
        let data = inputs[pieces_infos[i].0].tensor_data(info);
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
            writer.write(k, data)?;
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
        pool.install(|| quantize_one(info, data, &dims[i], choice.ty, weights, args.allow_requantize, &mut buf))
            .with_context(|| format!("{}: tensor {}", args.input.display(), info.name))?;
        writer.write(k, &buf)?;
        size_out += out_len as u64;
    }
    // without --force, never replace a file that appeared meanwhile (a second run to the same path)
    let file_size = writer.finish(args.force)?;
    bar.finish_and_clear();
    let n_params: u64 = infos.iter().map(|t| t.n_elements()).sum();
    let numbers = crate::numbers::FileNumbers::new(file_size, size_out, n_params);
    if args.json {
        let summary = Summary {
            schema_version: crate::numbers::SCHEMA_VERSION,
            input: &args.input,
            output,
            file_type: target_name,
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
        output.display(),
        target_name,
        order.len(),
        size_in as f64 / 1048576.0,
        size_out as f64 / 1048576.0,
        numbers.bits_per_weight,
        if n_fallback > 0 { format!(", {n_fallback} tensor(s) needed a fallback type") } else { String::new() }
    );
    Ok(())
}

/// How the output is cut: as gguf-split does (`split_strategy::should_split`), or as the input
/// is (--keep-split).
#[derive(Debug, Clone)]
enum SplitBy {
    /// The input piece of each tensor, in output order: a new piece where it changes.
    Pieces(Vec<usize>),
    /// At most this many tensors per piece.
    Tensors(usize),
    /// At most this many bytes of tensor data (each tensor padded to 32 bytes) per piece.
    Bytes(u64),
}

/// The input GGUF and, when it is the first piece of a gguf-split set (`split.count` > 1), the
/// other pieces (`PREFIX-0000I-of-0000N.gguf`), in order, as llama.cpp's model loader finds them.
fn open_inputs(path: &Path) -> Result<Vec<GgufFile>> {
    let first = GgufFile::open(path)?;
    let count = first.get("split.count").and_then(|v| v.as_u32()).unwrap_or(0);
    if count <= 1 {
        return Ok(vec![first]);
    }
    let no = first.get("split.no").and_then(|v| v.as_u32()).unwrap_or(0);
    if no != 0 {
        bail!(
            "{}: this is piece {} of {count} of a split model; give the first piece (…-00001-of-{count:05}.gguf)",
            path.display(),
            no + 1
        );
    }
    let name = path.to_string_lossy();
    let suffix = format!("-00001-of-{count:05}.gguf");
    let prefix = name.strip_suffix(&suffix).ok_or_else(|| {
        anyhow!("{}: split.count is {count}, but the file name does not end in {suffix} (gguf-split's naming)", path.display())
    })?;
    let mut pieces = vec![first];
    for i in 1..count {
        let p = PathBuf::from(format!("{prefix}-{:05}-of-{count:05}.gguf", i + 1));
        let f = GgufFile::open(&p).with_context(|| format!("piece {} of {count} of {}", i + 1, path.display()))?;
        if f.get("split.no").and_then(|v| v.as_u32()) != Some(i) {
            bail!("{}: split.no is not {i}: not piece {} of {}", p.display(), i + 1, path.display());
        }
        pieces.push(f);
    }
    Ok(pieces)
}

/// gguf-split's `--split-max-size` value: a positive number then `M` (10^6) or `G` (10^9).
fn split_size(s: &str) -> Result<u64> {
    let unit = match s.chars().last() {
        Some('M') => 1_000_000u64,
        Some('G') => 1_000_000_000,
        _ => bail!("--split-max-size {s:?}: supported units are M (megabytes) or G (gigabytes)"),
    };
    let n: u64 =
        s[..s.len() - 1].trim().parse().map_err(|_| anyhow!("--split-max-size {s:?}: expected a number then M or G (e.g. 500M, 2G)"))?;
    if n == 0 {
        bail!("--split-max-size {s:?}: size must be a positive value");
    }
    Ok(n * unit)
}

/// The output: one file, or gguf-split's pieces (`PREFIX-00001-of-00003.gguf`, …: the first holds
/// all metadata, every piece `split.no`, `split.count` and `split.tensors.count`). All pieces are
/// created (as temporary files) up front and renamed into place by [`SplitWriter::finish`].
struct SplitWriter {
    /// Each piece's writer and the index of its first tensor.
    parts: Vec<(GgufWriter, usize)>,
    /// Each piece's path, in order.
    paths: Vec<PathBuf>,
    /// The piece being written.
    current: usize,
}

impl SplitWriter {
    fn create(
        output: &Path,
        metadata: &[(String, gguf::Value)],
        specs: Vec<TensorSpec>,
        split: Option<SplitBy>,
        force: bool,
    ) -> Result<SplitWriter> {
        let Some(by) = split else {
            return Ok(SplitWriter {
                parts: vec![(GgufWriter::create(output, metadata, &specs)?, 0)],
                paths: vec![output.to_path_buf()],
                current: 0,
            });
        };
        // Piece starts, as gguf-split's split_strategy decides them.
        let mut starts = vec![0usize];
        let mut size = 0u64;
        for (i, t) in specs.iter().enumerate() {
            let bytes = t.ty.row_size(t.dims[0]).unwrap_or(0) * t.dims[1..].iter().product::<u64>();
            let padded = bytes.div_ceil(32) * 32;
            let cut = match &by {
                SplitBy::Pieces(p) => i > 0 && p[i] != p[i - 1],
                SplitBy::Tensors(n) => i > 0 && i % n == 0,
                SplitBy::Bytes(max) => size + padded > *max,
            };
            if cut {
                if starts.last() == Some(&i) {
                    bail!("--split-max-size is smaller than tensor {} ({bytes} bytes): a piece would hold no tensor", t.name);
                }
                starts.push(i);
                size = padded;
            } else {
                size += padded;
            }
        }
        let n = starts.len();
        let prefix = output.to_string_lossy();
        let prefix = prefix.strip_suffix(".gguf").unwrap_or(&prefix);
        // The keys' order: llama-quantize --keep-split sets split.no, split.count, then
        // split.tensors.count; gguf-split sets split.no, split.count (a placeholder),
        // split.tensors.count, then split.count again, which moves it last.
        let keep_split = matches!(by, SplitBy::Pieces(_));
        let split_keys = |no: usize| {
            let no = ("split.no".to_string(), gguf::Value::U16(no as u16));
            let count = ("split.count".to_string(), gguf::Value::U16(n as u16));
            let tensors = ("split.tensors.count".to_string(), gguf::Value::I32(specs.len() as i32));
            if keep_split {
                vec![no, count, tensors]
            } else {
                vec![no, tensors, count]
            }
        };
        if n > u16::MAX as usize {
            bail!("{n} pieces: gguf-split's split.count holds at most {}", u16::MAX);
        }
        let mut parts = Vec::with_capacity(n);
        let mut paths = Vec::with_capacity(n);
        for (no, &start) in starts.iter().enumerate() {
            let end = starts.get(no + 1).copied().unwrap_or(specs.len());
            let path = PathBuf::from(format!("{prefix}-{:05}-of-{n:05}.gguf", no + 1));
            if path.exists() && !force {
                bail!("{} exists; use --force to overwrite it", path.display());
            }
            let mut md = if no == 0 { metadata.to_vec() } else { Vec::new() };
            // llama-quantize --keep-split of a single file writes one piece without split keys.
            if n > 1 {
                for (k, v) in split_keys(no) {
                    quantize::metadata::set(&mut md, &k, v);
                }
            }
            parts.push((GgufWriter::create(&path, &md, &specs[start..end])?, start));
            paths.push(path);
        }
        Ok(SplitWriter { parts, paths, current: 0 })
    }

    /// Writes the data of tensor `k` (in output order).
    fn write(&mut self, k: usize, data: &[u8]) -> Result<()> {
        while self.parts.get(self.current + 1).is_some_and(|(_, start)| *start <= k) {
            self.current += 1;
        }
        self.parts[self.current].0.write_tensor_data(data)?;
        Ok(())
    }

    /// Finishes every piece (in order) and returns the bytes of all pieces. Without `replace`, a
    /// piece whose path appeared meanwhile (another run writing the same output) is never
    /// replaced: that piece errors instead.
    fn finish(self, replace: bool) -> Result<u64> {
        for (w, _) in self.parts {
            if replace {
                w.finish()?;
            } else {
                w.finish_new()?;
            }
        }
        let mut bytes = 0;
        for p in &self.paths {
            bytes += std::fs::metadata(p).with_context(|| format!("{}", p.display()))?.len();
        }
        Ok(bytes)
    }
}

/// `--dry-run`: each tensor's type and size, then the totals, as llama-quantize prints them
/// (`model size` / `quant size` in MiB and bits per weight: tensor data only); nothing written.
#[allow(clippy::too_many_arguments)]
fn dry_run(
    infos: &[&gguf::TensorInfo],
    path: &Path,
    ftype: FileType,
    target_name: &str,
    order: &[usize],
    choices: &[policy::TensorChoice],
    dims: &[Vec<u64>],
    has_imatrix: bool,
) -> Result<()> {
    let mib = |b: u64| b as f64 / 1048576.0;
    let (mut size_org, mut size_new, mut n_elements, mut needs_imatrix) = (0u64, 0u64, 0u64, false);
    println!("calculating quantization size for {} as {target_name}", path.display());
    for (k, &i) in order.iter().enumerate() {
        let info = infos[i];
        let ty = choices[i].ty;
        n_elements += info.n_elements();
        print!("[{:4}/{:4}] {:<36} - [{}], type = {:>6}, ", k + 1, order.len(), info.name, dims_text(&dims[i]), info.ty.name());
        let new_size = if ty == info.ty {
            println!("size = {:8.3} MiB", mib(info.size));
            info.size
        } else {
            let row =
                ty.row_size(dims[i][0]).ok_or_else(|| anyhow!("tensor {}: row length {} does not fit type {ty}", info.name, dims[i][0]))?;
            let size = info.n_elements() / dims[i][0] * row;
            println!("size = {:8.2} MiB -> {:8.2} MiB ({})", mib(info.size), mib(size), ty.name());
            needs_imatrix |= policy::requires_imatrix(&info.name, ty, ftype);
            size
        };
        size_org += info.size;
        size_new += new_size;
    }
    let bpw = |b: u64| b as f64 * 8.0 / n_elements.max(1) as f64;
    println!("model size  = {:8.2} MiB ({:.2} BPW)", mib(size_org), bpw(size_org));
    println!("quant size  = {:8.2} MiB ({:.2} BPW)", mib(size_new), bpw(size_new));
    if needs_imatrix && !has_imatrix {
        eprintln!("warning: dry run completed, but actually completing this quantization will require an importance matrix (--imatrix)");
    }
    Ok(())
}

/// ggml dims as the pinned llama-quantize prints them: `   576,   1536,      1,      1`.
fn dims_text(dims: &[u64]) -> String {
    (0..4).map(|k| format!("{:6}", dims.get(k).copied().unwrap_or(1))).collect::<Vec<_>>().join(", ")
}

/// A progress bar over the input's tensor bytes on stderr, when it is a terminal and `show`.
fn progress_bar(total: u64, show: bool) -> Result<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let target = if show && std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ETA {eta}")
            .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    Ok(bar)
}

/// Quantizes one tensor (all its expert matrices) into `out`; a quantized input tensor only with
/// `allow_requantize` (dequantized to f32 first, as llama-quantize's `llama_tensor_dequantize_impl`).
fn quantize_one(
    info: &gguf::TensorInfo,
    data: &[u8],
    dims: &[u64],
    ty: GgmlType,
    weights: Option<&[f32]>,
    allow_requantize: bool,
    out: &mut [u8],
) -> Result<()> {
    let ne0 = dims[0] as usize;
    let n_mat = dims.get(2..).map_or(1, |d| d.iter().product::<u64>()) as usize;
    let dequantized: Vec<u8>;
    let (data, in_ty) = match info.ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => (data, info.ty),
        other if !allow_requantize => bail!("requantizing from type {other} is disabled (use --allow-requantize, as with llama-quantize)"),
        other => {
            let n = usize::try_from(info.n_elements()).context("tensor too large")?;
            let mut f = vec![0f32; n];
            quantize::dequantize_rows(other, data, &mut f).map_err(|e| anyhow!("cannot requantize from {other}: {e}"))?;
            dequantized = f.iter().flat_map(|v| v.to_le_bytes()).collect();
            (dequantized.as_slice(), GgmlType::F32)
        }
    };
    let mat_in = data.len() / n_mat.max(1);
    let mat_out = out.len() / n_mat.max(1);
    let elems_per_mat = mat_in / bytes_per_element(in_ty)?;
    for (e, (src, dst)) in data.chunks(mat_in.max(1)).zip(out.chunks_mut(mat_out.max(1))).enumerate() {
        // Each expert matrix has its own slice of the importance matrix.
        let w = match weights {
            Some(w) => Some(w.get(e * ne0..(e + 1) * ne0).ok_or_else(|| anyhow!("importance matrix too short for matrix {e}"))?),
            None => None,
        };
        let source = match in_ty {
            GgmlType::F32 => Source::F32(src),
            GgmlType::F16 => Source::F16(src),
            _ => Source::BF16(src),
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
    bail!("{}: importance matrix entry {name} has {} values, expected {expected} for tensor shape {dims:?}", m.path().display(), w.len())
}

/// Dims without trailing 1s (at least one dim), as `ggml_n_dims` counts them.
/// The worker pool for `--threads` (0 or none: all cores).
fn pool_for(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build().context("cannot start worker threads")
}

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
