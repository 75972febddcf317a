//! Optimisers (SGD with momentum and Nesterov, Adam, AdamW), learning-rate schedules and
//! gradient clipping, with PyTorch's update rules so figures are comparable.
//!
//! The optimiser's state (momentum buffers, Adam moments, step count) is exposed as named
//! tensors so a checkpoint can hold it and a resumed run continues bit for bit.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
}

impl OptimizerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `step_size` epochs.
    Step {
        step_size: usize,
        gamma: f64,
    },
    /// Cosine from the base rate down to `min_lr` over the run (after warm-up).
    Cosine {
        min_lr: f64,
    },
}

/// The learning rate at optimisation step `step` (0-based).
pub fn learning_rate(
    base: f64,
    schedule: Schedule,
    warmup_steps: usize,
    step: usize,
    steps_per_epoch: usize,
    total_steps: usize,
) -> f64 {
    if step < warmup_steps {
        return base * (step + 1) as f64 / warmup_steps as f64;
    }
    match schedule {
        Schedule::Constant => base,
        Schedule::Step { step_size, gamma } => {
            let epoch = step / steps_per_epoch.max(1);
            base * gamma.powi((epoch / step_size.max(1)) as i32)
        }
        Schedule::Cosine { min_lr } => {
            let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
            let t = ((step - warmup_steps) as f64 / span).min(1.0);
            min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

/// One optimiser over named variables (sorted by name, so the state has a stable layout).
pub struct Optimizer {
    cfg: OptimConfig,
    vars: Vec<(String, Var)>,
    /// Per variable: `[momentum]` for SGD, `[m, v]` for Adam/AdamW (created on first use).
    state: Vec<Vec<Tensor>>,
    step: u64,
    /// Adam/AdamW on the CPU update in place (see [`AdamApply`]); tests turn it off to check
    /// that both paths give the same bits.
    fused_cpu: bool,
}

impl Optimizer {
    pub fn new(cfg: OptimConfig, vars: Vec<(String, Var)>) -> Optimizer {
        let state = vec![Vec::new(); vars.len()];
        Optimizer {
            cfg,
            vars,
            state,
            step: 0,
            fused_cpu: true,
        }
    }

    /// Rescales `grads` so their global L2 norm is at most `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&self, grads: &mut GradStore, max_norm: f64) -> Result<f64> {
        let mut total = 0f64;
        for (_, var) in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                total += g
                    .sqr()?
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar::<f64>()?;
            }
        }
        let norm = total.sqrt();
        if max_norm > 0.0 && norm > max_norm {
            let k = max_norm / (norm + 1e-6);
            for (_, var) in &self.vars {
                if let Some(g) = grads.remove(var.as_tensor()) {
                    grads.insert(var.as_tensor(), (g * k)?);
                }
            }
        }
        Ok(norm)
    }

    /// One update with learning rate `lr`. Variables without a gradient (batch-norm running
    /// statistics) are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c = self.cfg;
        let fused = self.fused_cpu;
        for ((_, var), state) in self.vars.iter().zip(self.state.iter_mut()) {
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            let theta = var.as_tensor();
            match c.kind {
                OptimizerKind::Sgd => {
                    let mut g = grad.clone();
                    if c.weight_decay > 0.0 {
                        g = (g + (theta * c.weight_decay)?)?;
                    }
                    if c.momentum > 0.0 {
                        let buf = match state.first() {
                            None => g.clone(),
                            Some(b) => ((b * c.momentum)? + &g)?,
                        };
                        g = if c.nesterov {
                            (g + (&buf * c.momentum)?)?
                        } else {
                            buf.clone()
                        };
                        *state = vec![buf];
                    }
                    var.set(&(theta - (g * lr)?)?)?;
                }
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    let mut g = grad.contiguous()?;
                    if c.weight_decay > 0.0 {
                        if c.kind == OptimizerKind::AdamW {
                            var.set(&(theta * (1.0 - lr * c.weight_decay))?)?;
                        } else {
                            g = (g + (theta * c.weight_decay)?)?;
                        }
                    }
                    if state.is_empty() {
                        *state = vec![g.zeros_like()?, g.zeros_like()?];
                    }
                    let (c1, c2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
                    if fused && var.device().is_cpu() && var.dtype() == DType::F32 {
                        // Three in-place passes, no temporaries: the same f32 operations as
                        // the tensor path below, so the weights are bit-identical.
                        let ema = |a: f64, square: bool| Ema {
                            a: a as f32,
                            b: (1.0 - a) as f32,
                            square,
                        };
                        state[0].inplace_op2(&g, &ema(c.beta1, false))?;
                        state[1].inplace_op2(&g, &ema(c.beta2, true))?;
                        let apply = AdamApply {
                            c1: (1.0 / c1) as f32,
                            c2: (1.0 / c2) as f32,
                            eps: c.eps as f32,
                            lr: lr as f32,
                        };
                        var.as_tensor().inplace_op3(&state[0], &state[1], &apply)?;
                    } else {
                        let theta = var.as_tensor();
                        let m = ((&state[0] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
                        let v = ((&state[1] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
                        let m_hat = (&m / c1)?;
                        let v_hat = (&v / c2)?;
                        let update = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
                        var.set(&(theta - (update * lr)?)?)?;
                        *state = vec![m, v];
                    }
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors (`NAME.0`, `NAME.1`) and the step count. The tensors are
    /// copies: the moments are updated in place, and a checkpoint must not change afterwards.
    pub fn state(&self) -> Result<(BTreeMap<String, Tensor>, u64)> {
        let mut out = BTreeMap::new();
        for ((name, _), st) in self.vars.iter().zip(&self.state) {
            for (i, t) in st.iter().enumerate() {
                out.insert(format!("{name}.{i}"), t.copy()?);
            }
        }
        Ok((out, self.step))
    }

    /// Restores what [`Optimizer::state`] returned (copying, so `tensors` stay as they are).
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>, step: u64) -> Result<()> {
        self.step = step;
        for ((name, var), st) in self.vars.iter().zip(self.state.iter_mut()) {
            let mut restored = Vec::new();
            for i in 0..2 {
                match tensors.get(&format!("{name}.{i}")) {
                    Some(t) => restored.push(t.to_device(var.device())?.copy()?),
                    None => break,
                }
            }
            *st = restored;
        }
        Ok(())
    }
}

/// `s ← a·s + b·g` (or `b·g²`) in place: the f32 operations of candle's `(s * a) + (g * b)`
/// (an affine `x·a + 0` per side, then an add).
struct Ema {
    a: f32,
    b: f32,
    square: bool,
}

/// `θ ← θ - lr·(m·c₁)/(√(v·c₂) + ε)` in place, with `cᵢ = 1/(1-βᵢᵗ)`, as candle computes the
/// tensor expression (division by a scalar is multiplication by its inverse).
struct AdamApply {
    c1: f32,
    c2: f32,
    eps: f32,
    lr: f32,
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("adam: f32 contiguous tensors only"),
    }
}

fn contiguous_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("adam: f32 contiguous tensors only"),
    }
}

impl InplaceOp2 for Ema {
    fn name(&self) -> &'static str {
        "adam-ema"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let g = contiguous(s2, l2)?;
        let s = contiguous_mut(s1, l1)?;
        for (s, &g) in s.iter_mut().zip(g) {
            let g = if self.square { g * g } else { g };
            *s = (*s * self.a + 0.0) + (g * self.b + 0.0);
        }
        Ok(())
    }
}

impl InplaceOp3 for AdamApply {
    fn name(&self) -> &'static str {
        "adam-apply"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (m, v) = (contiguous(s2, l2)?, contiguous(s3, l3)?);
        let theta = contiguous_mut(s1, l1)?;
        for ((t, &m), &v) in theta.iter_mut().zip(m).zip(v) {
            let m_hat = m * self.c1 + 0.0;
            let v_hat = v * self.c2 + 0.0;
            let update = m_hat / (v_hat.sqrt() * 1.0 + self.eps);
            *t -= update * self.lr + 0.0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn quadratic_run(kind: OptimizerKind, nesterov: bool, steps: usize) -> Vec<f32> {
        quadratic_run_with(kind, nesterov, steps, true)
    }

    fn quadratic_run_with(
        kind: OptimizerKind,
        nesterov: bool,
        steps: usize,
        fused: bool,
    ) -> Vec<f32> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &dev).unwrap()).unwrap();
        let cfg = OptimConfig {
            kind,
            momentum: 0.9,
            nesterov,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let mut opt = Optimizer::new(cfg, vec![("x".into(), x.clone())]);
        opt.fused_cpu = fused;
        for _ in 0..steps {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            opt.step(&grads, 0.1).unwrap();
        }
        x.as_tensor().to_vec1::<f32>().unwrap()
    }

    /// Reference values from PyTorch 2.x (`torch.optim.SGD/Adam/AdamW`, lr 0.1, wd 0.1,
    /// momentum 0.9, loss = sum(x²), x0 = [1, -2], 3 steps), computed by hand with the same
    /// update rules in f64.
    #[test]
    fn updates_follow_pytorch_rules() {
        // SGD momentum, by hand: g = 2x + 0.1x = 2.1x.
        let mut x = [1.0f64, -2.0];
        let mut buf = [0.0f64; 2];
        for s in 0..3 {
            for i in 0..2 {
                let g = 2.1 * x[i];
                buf[i] = if s == 0 { g } else { 0.9 * buf[i] + g };
                x[i] -= 0.1 * buf[i];
            }
        }
        let got = quadratic_run(OptimizerKind::Sgd, false, 3);
        for i in 0..2 {
            assert!((got[i] as f64 - x[i]).abs() < 1e-6, "{got:?} vs {x:?}");
        }
        // AdamW: decoupled decay, then Adam on g = 2x.
        let mut x = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for t in 1..=3 {
            for i in 0..2 {
                let g = 2.0 * x[i];
                x[i] *= 1.0 - 0.1 * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                x[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got = quadratic_run(OptimizerKind::AdamW, false, 3);
        for i in 0..2 {
            assert!((got[i] as f64 - x[i]).abs() < 1e-6, "{got:?} vs {x:?}");
        }
        // Nesterov and Adam move towards the minimum too.
        for (kind, nesterov) in [(OptimizerKind::Sgd, true), (OptimizerKind::Adam, false)] {
            let got = quadratic_run(kind, nesterov, 50);
            assert!(got.iter().all(|v| v.abs() < 0.5), "{kind:?}: {got:?}");
        }
    }

    #[test]
    fn in_place_adam_gives_the_bits_of_the_tensor_expression() {
        for kind in [OptimizerKind::Adam, OptimizerKind::AdamW] {
            let a = quadratic_run_with(kind, false, 25, true);
            let b = quadratic_run_with(kind, false, 25, false);
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn schedules() {
        let lr = |s, w, step| learning_rate(1.0, s, w, step, 10, 100);
        assert_eq!(lr(Schedule::Constant, 0, 50), 1.0);
        assert_eq!(lr(Schedule::Constant, 4, 0), 0.25);
        assert_eq!(lr(Schedule::Constant, 4, 3), 1.0);
        let step = Schedule::Step {
            step_size: 3,
            gamma: 0.5,
        };
        assert_eq!(lr(step, 0, 29), 1.0);
        assert_eq!(lr(step, 0, 30), 0.5);
        assert_eq!(lr(step, 0, 60), 0.25);
        let cos = Schedule::Cosine { min_lr: 0.0 };
        assert_eq!(lr(cos, 0, 0), 1.0);
        assert!((lr(cos, 0, 50) - 0.5).abs() < 1e-12);
        assert!(lr(cos, 0, 100) < 1e-12);
    }
}
