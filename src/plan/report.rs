//! Rendering a [`Plan`]: a readable table, Markdown, or JSON.

use super::memory::Backend;
use super::planner::{Plan, TypeRow};

const MIB: f64 = (1u64 << 20) as f64;
const GIB: f64 = (1u64 << 30) as f64;

/// Human size: MiB below 1 GiB, else GiB.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < GIB {
        format!("{:.1} MiB", b / MIB)
    } else {
        format!("{:.2} GiB", b / GIB)
    }
}

const HEADERS: [&str; 10] = ["type", "file size", "bpw", "weights", "KV cache", "compute", "total", "fits", "GPU layers", "max ctx"];

fn cells(p: &Plan, r: &TypeRow) -> [String; 10] {
    let approx = if r.file_size_exact { "" } else { "~" };
    [
        r.name.clone(),
        format!("{approx}{}", human(r.file_size)),
        format!("{:.2}", r.bits_per_weight),
        human(r.gpu_weights_bytes),
        human(r.kv_bytes),
        human(r.compute_bytes),
        human(r.total_bytes),
        match r.fits {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "-".into(),
        },
        match r.gpu_layers {
            Some(n) if n > p.n_layer => "all".into(),
            Some(n) => format!("{n}/{}", p.n_layer + 1),
            None => "-".into(),
        },
        match (r.fits, r.max_ctx) {
            (None, _) => "-".into(),
            (Some(_), Some(c)) => c.to_string(),
            (Some(_), None) => "none".into(),
        },
    ]
}

fn summary(p: &Plan) -> Vec<String> {
    let mut lines = vec![format!(
        "{} ({} input): {}, {} layers, {:.2} B parameters, trained ctx {}",
        p.model,
        p.input,
        p.arch,
        p.n_layer,
        p.n_params as f64 / 1e9,
        p.n_ctx_train
    )];
    let mut run = format!(
        "ctx {} ({} KV cells), batch {}, KV cache {}, {} compute buffer",
        p.ctx,
        p.ctx_cells,
        p.batch,
        p.kv_type,
        match p.backend {
            Backend::Cpu => "CPU",
            Backend::Cuda => "CUDA",
        }
    );
    if let Some(v) = p.vram_bytes {
        run += &format!(", VRAM {} minus {} margin", human(v), human(p.margin_bytes));
    }
    lines.push(run);
    lines
}

fn footer(p: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    if p.rows.iter().any(|r| !r.file_size_exact) {
        lines.push("~ file size estimated: tokenizer metadata not known from config.json alone".into());
    }
    lines.push("weights = on the GPU with all layers offloaded (token embedding stays on the host); total = weights + KV + compute".into());
    for r in &p.rows {
        if let Some(m) = &r.experts_on_cpu {
            lines.push(format!(
                "{} with experts on the CPU (--cpu-moe): GPU {}, {} at ctx {}, max ctx {}; RAM for weights {}{}",
                r.name,
                human(m.gpu_total_bytes),
                if m.fits { "fits" } else { "does not fit" },
                p.ctx,
                m.max_ctx.map_or_else(|| "none".to_string(), |c| c.to_string()),
                human(m.host_weights_bytes),
                match p.ram_bytes {
                    Some(ram) if m.host_weights_bytes > ram => format!(" (more than the {} of RAM)", human(ram)),
                    _ => String::new(),
                }
            ));
        }
    }
    if let Some(r) = &p.recommendation {
        lines.push(match &r.name {
            Some(n) => format!("Recommended: {n} — {}", r.why),
            None => format!("Recommended: none fits fully — {}", r.why),
        });
    }
    lines
}

/// Plain-text table.
pub fn table(p: &Plan) -> String {
    let rows: Vec<[String; 10]> = p.rows.iter().map(|r| cells(p, r)).collect();
    let mut width = HEADERS.map(|h| h.len());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |c: &[String]| {
        c.iter()
            .zip(width)
            .enumerate()
            .map(|(i, (s, w))| if i == 0 { format!("{s:<w$}") } else { format!("{s:>w$}") })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = summary(p).join("\n") + "\n\n";
    out += &line(&HEADERS.map(String::from));
    out += "\n";
    for r in &rows {
        out += &line(r);
        out += "\n";
    }
    out += "\n";
    out += &footer(p).join("\n");
    out += "\n";
    out
}

/// Markdown table.
pub fn markdown(p: &Plan) -> String {
    let mut out = summary(p).iter().map(|l| format!("{l}  \n")).collect::<String>();
    out += "\n| ";
    out += &HEADERS.join(" | ");
    out += " |\n|";
    out += &HEADERS.iter().enumerate().map(|(i, _)| if i == 0 { "---|" } else { "---:|" }).collect::<String>();
    out += "\n";
    for r in &p.rows {
        out += "| ";
        out += &cells(p, r).join(" | ");
        out += " |\n";
    }
    out += "\n";
    out += &footer(p).iter().map(|l| format!("{l}  \n")).collect::<String>();
    out
}

/// JSON (all sizes in bytes).
pub fn json(p: &Plan) -> String {
    serde_json::to_string_pretty(&crate::numbers::Versioned::new(p)).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
