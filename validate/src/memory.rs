//! The memory budget of an evaluation: what a model needs resident or streamed, the default
//! budget of a device, and the peak actually used.

use crate::config::ModelConfig;
use crate::error::{Result, ValidateError};
use crate::loader;
use crate::weights::{StoredTensor, WeightSource};
use candle_core::Device;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Held back from the detected free memory by the default budget: allocator slack, the
/// tokenizer, the logits file buffers (and other processes' growth).
pub const DEFAULT_MARGIN_BYTES: u64 = 512 << 20;

/// How a model's weights are held during its evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// All blocks on the device for the whole evaluation.
    Resident,
    /// One block at a time, loaded when the windows reach it.
    Streamed,
}

/// The sizes that decide between resident and streamed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Need {
    /// Every block and the head on the device.
    pub weights: u64,
    /// The largest single block, or the head if larger.
    pub largest_part: u64,
    /// Temporaries of each window of a forward group (attention scores, q/k/v, the FFN, copies
    /// of the hidden states; on a GPU the f16 copies of the activations).
    pub per_window_temp: u64,
    /// Temporaries once per forward group, whatever its size: one window's logits (the head runs
    /// window by window); on a GPU the f16 copy of the largest matrix.
    pub per_group_fixed: u64,
    /// Hidden states kept per window between blocks.
    pub per_window_kept: u64,
    /// On the CPU, the largest of the tensors' stored bytes in memory while one is loaded
    /// (`linear::transient_bytes`: a quantized tensor's file pages while its blocks are copied,
    /// a slice's while a BF16/F16 one is converted to f32).
    pub transient: u64,
}

/// The plan of one model's evaluation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Plan {
    /// Resident or streamed.
    pub mode: Mode,
    /// The budget it was planned for, bytes.
    pub budget: u64,
    /// The bytes this plan expects to use at most.
    pub expected: u64,
    /// Windows whose hidden states are kept together (all windows of a pass through the blocks).
    pub windows_kept: usize,
}

impl Need {
    /// Sizes of `config`'s model from `src` on `device`, windows of `ctx` tokens, `rows` scored
    /// positions each.
    pub fn of(config: &ModelConfig, src: &dyn WeightSource, device: &Device, ctx: usize, rows: usize) -> Need {
        let layers: Vec<u64> = (0..config.n_layer).map(|il| loader::layer_device_bytes(src, device, il)).collect();
        let head = loader::head_device_bytes(src, device);
        let (t, c) = (ctx as u64, config);
        let f = 4u64;
        // One window's temporaries: attention scores (and softmax) per head, q/k/v/out, the FFN's
        // three intermediates, a few copies of the hidden states; once per group, the scored
        // logits of one window (and their host copy: the head runs window by window).
        let scores = 2 * c.n_head as u64 * t * t * f;
        let qkv = 4 * t * c.q_dim() as u64 * f;
        let ffn = 3 * t * c.ffn as u64 * f;
        let hidden = 4 * t * c.hidden as u64 * f;
        let logits = 2 * rows as u64 * c.n_vocab as u64 * f;
        // A GPU multiplies block matrices through an f16 copy of the matrix (one at a time) and
        // f16 copies of the activations and the product (linear::matmul_scratch_bytes).
        let matrix_f16 = largest_over_tensors(src, |t| {
            if t.shape.len() == 2 {
                crate::linear::matmul_scratch_bytes(t.ty, t.shape.iter().map(|&d| d as u64).product(), device)
            } else {
                0
            }
        });
        let activations_f16 = if matrix_f16 > 0 { t * (c.hidden + c.ffn.max(c.q_dim())) as u64 * 2 } else { 0 };
        Need {
            weights: layers.iter().sum::<u64>() + head,
            largest_part: layers.iter().copied().max().unwrap_or(0).max(head),
            per_window_temp: scores + qkv + ffn + hidden + activations_f16,
            per_group_fixed: logits + matrix_f16,
            per_window_kept: t * c.hidden as u64 * f,
            transient: largest_over_tensors(src, |t| crate::linear::transient_bytes(t.ty, t.bytes.len() as u64, device)),
        }
    }

    /// Temporaries of one forward group of `windows` windows.
    pub fn per_group(&self, windows: usize) -> u64 {
        windows as u64 * self.per_window_temp + self.per_group_fixed
    }

    /// Resident if everything fits `budget`, else streamed keeping as many windows (up to
    /// `windows`, in whole groups of `per_group`) as fit; an error when even one group does not.
    pub fn plan(&self, budget: u64, windows: usize, per_group: usize, what: &str) -> Result<Plan> {
        let temporaries = self.per_group(per_group);
        let resident = self.weights + temporaries + self.transient + per_group as u64 * self.per_window_kept;
        if resident <= budget {
            return Ok(Plan { mode: Mode::Resident, budget, expected: resident, windows_kept: per_group.min(windows).max(1) });
        }
        let fixed = self.largest_part + temporaries + self.transient;
        let min_streamed = fixed + per_group as u64 * self.per_window_kept;
        if min_streamed > budget {
            return Err(ValidateError::NotEnoughMemory { what: what.into(), needed: min_streamed, resident, budget });
        }
        let fit = ((budget - fixed) / self.per_window_kept.max(1)) as usize;
        let kept = (fit / per_group.max(1) * per_group.max(1)).clamp(per_group.max(1), windows.max(1));
        Ok(Plan { mode: Mode::Streamed, budget, expected: fixed + kept as u64 * self.per_window_kept, windows_kept: kept })
    }
}

/// The largest `size` of any of `src`'s tensors (each expert of a stacked one on its own).
fn largest_over_tensors(src: &dyn WeightSource, size: impl Fn(&StoredTensor<'_>) -> u64) -> u64 {
    src.tensor_names().iter().flat_map(|n| src.parts(n)).map(|t| size(&t)).max().unwrap_or(0)
}

/// The default budget: on CUDA the device's free memory, on the CPU the available RAM
/// (`MemAvailable`), minus [`DEFAULT_MARGIN_BYTES`].
pub fn default_budget(device: &Device) -> Result<u64> {
    let free = match device {
        Device::Cpu => available_ram()?,
        other => device_free_total(other).map(|(free, _)| free).ok_or_else(|| ValidateError::Device {
            device: format!("{other:?}"),
            message: "cannot read the free memory; give --max-memory".into(),
        })?,
    };
    Ok(free.saturating_sub(DEFAULT_MARGIN_BYTES))
}

/// This machine's total memory (`MemTotal` of `/proc/meminfo`); `None` where it cannot be read.
pub fn total_ram() -> Option<u64> {
    kib_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")
}

fn available_ram() -> Result<u64> {
    let path = std::path::Path::new("/proc/meminfo");
    let text = std::fs::read_to_string(path).map_err(|e| ValidateError::io(path, e))?;
    kib_field(&text, "MemAvailable:").ok_or_else(|| ValidateError::Device {
        device: "cpu".into(),
        message: "no MemAvailable in /proc/meminfo; give --max-memory".into(),
    })
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(feature = "cuda")]
fn device_free_total(device: &Device) -> Option<(u64, u64)> {
    match device {
        Device::Cuda(d) => d.cuda_stream().context().mem_get_info().ok().map(|(f, t)| (f as u64, t as u64)),
        _ => None,
    }
}

#[cfg(not(feature = "cuda"))]
fn device_free_total(_device: &Device) -> Option<(u64, u64)> {
    None
}

static PEAK_DEVICE_USED: AtomicU64 = AtomicU64::new(0);

/// Records the device memory in use now (GPU: total − free, the CUDA context included); the
/// forward pass calls it after every block and every group's logits.
pub fn sample(device: &Device) {
    if let Some((free, total)) = device_free_total(device) {
        PEAK_DEVICE_USED.fetch_max(total.saturating_sub(free), Ordering::Relaxed);
    }
}

/// Starts a new peak measurement: the process's peak RSS on the CPU (`/proc/self/clear_refs`),
/// the sampled device memory on a GPU.
pub fn reset_peak() {
    PEAK_DEVICE_USED.store(0, Ordering::Relaxed);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak since [`reset_peak`]: sampled GPU memory in use, or the process's peak RSS (`VmHWM`).
pub fn peak(device: &Device) -> Option<u64> {
    match device {
        Device::Cpu => std::fs::read_to_string("/proc/self/status").ok().and_then(|s| kib_field(&s, "VmHWM:")),
        _ => Some(PEAK_DEVICE_USED.load(Ordering::Relaxed)).filter(|&p| p > 0),
    }
}

/// A size in GiB with two decimals, for messages.
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_prefers_resident_then_streams_then_refuses() {
        // per_group(2) = 50
        let need = Need { weights: 1000, largest_part: 100, per_window_temp: 25, per_group_fixed: 0, per_window_kept: 10, transient: 0 };
        assert_eq!(need.plan(2000, 8, 2, "m").unwrap().mode, Mode::Resident);
        let p = need.plan(500, 8, 2, "m").unwrap();
        assert_eq!((p.mode, p.windows_kept), (Mode::Streamed, 8));
        let p = need.plan(200, 100, 2, "m").unwrap();
        assert_eq!((p.mode, p.windows_kept), (Mode::Streamed, 4));
        assert!(p.expected <= 200);
        match need.plan(160, 8, 2, "m") {
            Err(ValidateError::NotEnoughMemory { needed, .. }) => assert_eq!(needed, 170),
            other => panic!("{other:?}"),
        }
    }
}
