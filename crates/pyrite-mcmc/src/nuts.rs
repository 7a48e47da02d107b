//! The No-U-Turn sampler as Stan and NumPyro run it: the trajectory doubles in a random direction
//! until the generalised no-U-turn criterion fails (also across the two halves of every merged
//! tree), a divergence occurs, or the maximum depth is reached; the draw is multinomial over the
//! trajectory (progressive sampling biased towards the new half at the top level, uniform within
//! sub-trees).

use pyrite_core::PyriteError;
use rand::Rng;

use crate::integrator::{dot, leapfrog, MassMatrix, PhasePoint};
use crate::potential::Potential;
use crate::sampler::{invalid, StepInfo};
use crate::settings::{Adaptation, Adaptive};

/// The deepest tree [`NutsSettings::max_tree_depth`] allows (`2^30 - 1` leapfrog steps a draw).
pub const MAX_TREE_DEPTH_LIMIT: usize = 30;

/// Settings of [`Nuts`] and its warm-up. Defaults follow NumPyro and Stan: tree depth 10, target
/// acceptance 0.8, diagonal mass matrix, both adaptations on, initial step size found by search,
/// divergence at an energy error above 1000.
///
/// ```
/// use pyrite_mcmc::nuts::NutsSettings;
/// use pyrite_mcmc::settings::Adaptive;
/// let s = NutsSettings::default().max_tree_depth(6).target_accept(0.9);
/// assert_eq!((s.max_tree_depth, s.adaptation.target_accept), (6, 0.9));
/// assert!(s.validate().is_ok());
/// assert!(NutsSettings::default().target_accept(1.0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NutsSettings {
    /// At most `2^max_tree_depth - 1` leapfrog steps per draw; between 1 and
    /// [`MAX_TREE_DEPTH_LIMIT`].
    pub max_tree_depth: usize,
    /// Warm-up and divergence settings (their builder methods come from [`Adaptive`]).
    pub adaptation: Adaptation,
}

impl Default for NutsSettings {
    fn default() -> Self {
        NutsSettings { max_tree_depth: 10, adaptation: Adaptation::default() }
    }
}

impl Adaptive for NutsSettings {
    fn adaptation_mut(&mut self) -> &mut Adaptation {
        &mut self.adaptation
    }
}

impl NutsSettings {
    /// Sets `max_tree_depth`.
    pub fn max_tree_depth(mut self, depth: usize) -> Self {
        self.max_tree_depth = depth;
        self
    }

    /// `InvalidInput` naming the first setting out of range.
    pub fn validate(&self) -> Result<(), PyriteError> {
        if !(1..=MAX_TREE_DEPTH_LIMIT).contains(&self.max_tree_depth) {
            return Err(invalid("max_tree_depth", &format!("must be between 1 and {MAX_TREE_DEPTH_LIMIT}, got {}", self.max_tree_depth)));
        }
        self.adaptation.validate()
    }
}

/// What a finished (sub-)tree hands to its parent: the state it proposes, the momenta and
/// velocities at its first and last states (in the direction it was built), the sum of its
/// momenta and the log of its summed weights `exp(H0 - H)`.
#[derive(Debug, Clone)]
struct Subtree {
    proposal: PhasePoint,
    p_begin: Vec<f64>,
    v_begin: Vec<f64>,
    p_end: Vec<f64>,
    v_end: Vec<f64>,
    rho: Vec<f64>,
    log_weight: f64,
}

impl Subtree {
    fn new(dim: usize) -> Self {
        Subtree {
            proposal: PhasePoint::new(dim),
            p_begin: vec![0.0; dim],
            v_begin: vec![0.0; dim],
            p_end: vec![0.0; dim],
            v_end: vec![0.0; dim],
            rho: vec![0.0; dim],
            log_weight: f64::NEG_INFINITY,
        }
    }
}

/// The two halves of a tree one level up: `levels[d]` holds the depth-`d` halves of a tree of
/// depth `d + 1`.
type Halves = [Subtree; 2];

/// What every leaf of one transition shares.
struct Trajectory<'a, R: ?Sized> {
    potential: &'a mut dyn Potential,
    mass: &'a MassMatrix,
    rng: &'a mut R,
    /// The signed step size of the current doubling.
    step: f64,
    h0: f64,
    max_delta_energy: f64,
    num_leapfrog: usize,
    sum_accept: f64,
    diverging: bool,
    velocity: &'a mut [f64],
}

/// The generalised no-U-turn criterion: both end velocities point along the summed momentum
/// `rho_a + rho_b` (a sum of two parts, so no buffer is needed for it).
fn no_u_turn(v_first: &[f64], v_last: &[f64], rho_a: &[f64], rho_b: &[f64]) -> bool {
    dot(v_first, rho_a) + dot(v_first, rho_b) > 0.0 && dot(v_last, rho_a) + dot(v_last, rho_b) > 0.0
}

/// Merges two adjacent pieces of trajectory, `a` (built first) then `b` (continuing from `a`'s
/// last state): Stan's three checks, around the whole and across the seam.
fn merged_no_u_turn(
    (va_far, va_near, pa_near, rho_a): (&[f64], &[f64], &[f64], &[f64]),
    (vb_near, pb_near, vb_far, rho_b): (&[f64], &[f64], &[f64], &[f64]),
) -> bool {
    no_u_turn(va_far, vb_far, rho_a, rho_b) && no_u_turn(va_far, vb_near, rho_a, pb_near) && no_u_turn(va_near, vb_far, pa_near, rho_b)
}

fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        m
    } else {
        m + ((a - m).exp() + (b - m).exp()).ln()
    }
}

impl<R: Rng + ?Sized> Trajectory<'_, R> {
    /// Builds a tree of `depth` from `front` (which moves to its last state) into `out`, using
    /// `levels[..depth]` as scratch. `Ok(false)` when it diverged or U-turned (then `out` is
    /// incomplete and must be discarded).
    fn build(&mut self, front: &mut PhasePoint, depth: usize, out: &mut Subtree, levels: &mut [Halves]) -> Result<bool, PyriteError> {
        if depth == 0 {
            return self.leaf(front, out);
        }
        let (lower, this) = levels.split_at_mut(depth - 1);
        let [first, second] = &mut this[0];
        if !self.build(front, depth - 1, first, lower)? {
            return Ok(false);
        }
        if !self.build(front, depth - 1, second, lower)? {
            return Ok(false);
        }
        out.log_weight = log_add_exp(first.log_weight, second.log_weight);
        // Uniform (multinomial) choice between the halves, in proportion to their weights.
        let take_second = self.rng.gen::<f64>() < (second.log_weight - out.log_weight).exp();
        out.proposal.copy_from(if take_second { &second.proposal } else { &first.proposal });
        out.p_begin.copy_from_slice(&first.p_begin);
        out.v_begin.copy_from_slice(&first.v_begin);
        out.p_end.copy_from_slice(&second.p_end);
        out.v_end.copy_from_slice(&second.v_end);
        for ((r, a), b) in out.rho.iter_mut().zip(&first.rho).zip(&second.rho) {
            *r = a + b;
        }
        Ok(merged_no_u_turn((&first.v_begin, &first.v_end, &first.p_end, &first.rho), (&second.v_begin, &second.p_begin, &second.v_end, &second.rho)))
    }

    /// One leapfrog step: a tree of depth 0.
    fn leaf(&mut self, front: &mut PhasePoint, out: &mut Subtree) -> Result<bool, PyriteError> {
        leapfrog(self.potential, self.mass, self.step, front, self.velocity)?;
        self.num_leapfrog += 1;
        self.mass.velocity(&front.p, &mut out.v_begin);
        let h = front.potential_energy + self.mass.kinetic_energy(&front.p, &out.v_begin);
        let delta = if h.is_finite() { h - self.h0 } else { f64::INFINITY };
        if delta.is_nan() || delta > self.max_delta_energy {
            self.diverging = true;
        }
        self.sum_accept += (-delta).exp().min(1.0);
        out.log_weight = -delta;
        out.proposal.copy_from(front);
        out.v_end.copy_from_slice(&out.v_begin);
        out.p_begin.copy_from_slice(&front.p);
        out.p_end.copy_from_slice(&front.p);
        out.rho.copy_from_slice(&front.p);
        Ok(!self.diverging)
    }
}

/// The NUTS transition kernel. It owns every buffer a transition needs (one pair of sub-trees per
/// level up to the maximum depth), so a transition does not allocate.
///
/// ```
/// use pyrite_mcmc::integrator::{MassMatrix, PhasePoint};
/// use pyrite_mcmc::nuts::{Nuts, NutsSettings};
/// use pyrite_mcmc::potential::{FnPotential, Potential};
/// use rand::{rngs::StdRng, SeedableRng};
/// let mut u = FnPotential::new(2, |z: &[f64], g: &mut [f64]| {
///     g.copy_from_slice(z);
///     Ok(0.5 * (z[0] * z[0] + z[1] * z[1]))
/// });
/// let mut x = PhasePoint::new(2);
/// x.z.copy_from_slice(&[1.0, -1.0]);
/// x.potential_energy = u.energy_and_grad(&[1.0, -1.0], &mut x.grad).unwrap();
/// let mut nuts = Nuts::new(&NutsSettings::default(), 2);
/// let mut rng = StdRng::seed_from_u64(0);
/// let info = nuts.transition(&mut u, &MassMatrix::identity(2, false), 0.5, &mut x, &mut rng).unwrap();
/// assert!(info.tree_depth >= 1 && info.num_leapfrog >= 1);
/// assert!(!info.diverging && info.accept_prob > 0.5);
/// ```
#[derive(Debug, Clone)]
pub struct Nuts {
    max_tree_depth: usize,
    max_delta_energy: f64,
    levels: Vec<Halves>,
    new_tree: Subtree,
    backward: PhasePoint,
    forward: PhasePoint,
    sample: PhasePoint,
    v_backward: Vec<f64>,
    v_forward: Vec<f64>,
    p_seam: Vec<f64>,
    rho: Vec<f64>,
    velocity: Vec<f64>,
}

impl Nuts {
    /// A kernel for `dim` coordinates (settings are assumed validated).
    pub fn new(settings: &NutsSettings, dim: usize) -> Self {
        let depth = settings.max_tree_depth;
        Nuts {
            max_tree_depth: depth,
            max_delta_energy: settings.adaptation.max_delta_energy,
            levels: (0..depth.saturating_sub(1)).map(|_| [Subtree::new(dim), Subtree::new(dim)]).collect(),
            new_tree: Subtree::new(dim),
            backward: PhasePoint::new(dim),
            forward: PhasePoint::new(dim),
            sample: PhasePoint::new(dim),
            v_backward: vec![0.0; dim],
            v_forward: vec![0.0; dim],
            p_seam: vec![0.0; dim],
            rho: vec![0.0; dim],
            velocity: vec![0.0; dim],
        }
    }

    /// One transition from `current` (position, gradient and potential energy set), which becomes
    /// the drawn state (with its momentum); on an error from the potential it keeps its position.
    /// `accept_prob` is the mean of `min(1, exp(H0 - H))` over the tree's leapfrog steps,
    /// `tree_depth` the number of completed doublings, `energy` the Hamiltonian of the drawn
    /// state.
    pub fn transition<R: Rng + ?Sized>(
        &mut self,
        potential: &mut dyn Potential,
        mass: &MassMatrix,
        step_size: f64,
        current: &mut PhasePoint,
        rng: &mut R,
    ) -> Result<StepInfo, PyriteError> {
        mass.sample_momentum(rng, &mut current.p);
        mass.velocity(&current.p, &mut self.v_forward);
        self.v_backward.copy_from_slice(&self.v_forward);
        let h0 = current.potential_energy + mass.kinetic_energy(&current.p, &self.v_forward);
        self.backward.copy_from(current);
        self.forward.copy_from(current);
        self.sample.copy_from(current);
        self.rho.copy_from_slice(&current.p);
        let mut log_weight = 0.0;
        let mut traj = Trajectory {
            potential,
            mass,
            rng,
            step: step_size,
            h0,
            max_delta_energy: self.max_delta_energy,
            num_leapfrog: 0,
            sum_accept: 0.0,
            diverging: false,
            velocity: &mut self.velocity,
        };
        let mut depth = 0;
        while depth < self.max_tree_depth {
            let go_forward = traj.rng.gen::<f64>() < 0.5;
            // The old trajectory's end the new sub-tree grows from, and its far end.
            let (front, v_near, v_far) = if go_forward {
                (&mut self.forward, &mut self.v_forward, &self.v_backward)
            } else {
                (&mut self.backward, &mut self.v_backward, &self.v_forward)
            };
            self.p_seam.copy_from_slice(&front.p);
            traj.step = if go_forward { step_size } else { -step_size };
            if !traj.build(front, depth, &mut self.new_tree, &mut self.levels[..depth])? {
                break;
            }
            depth += 1;
            let tree = &self.new_tree;
            // Progressive sampling biased towards the new half.
            if traj.rng.gen::<f64>() < (tree.log_weight - log_weight).exp() {
                self.sample.copy_from(&tree.proposal);
            }
            log_weight = log_add_exp(log_weight, tree.log_weight);
            let keep_going = merged_no_u_turn((v_far, v_near, &self.p_seam, &self.rho), (&tree.v_begin, &tree.p_begin, &tree.v_end, &tree.rho));
            v_near.copy_from_slice(&tree.v_end);
            for (r, t) in self.rho.iter_mut().zip(&tree.rho) {
                *r += t;
            }
            if !keep_going {
                break;
            }
        }
        let (num_leapfrog, diverging) = (traj.num_leapfrog, traj.diverging);
        let accept_prob = traj.sum_accept / num_leapfrog.max(1) as f64;
        current.copy_from(&self.sample);
        mass.velocity(&current.p, &mut self.velocity);
        let energy = current.potential_energy + mass.kinetic_energy(&current.p, &self.velocity);
        Ok(StepInfo { accept_prob, diverging, num_leapfrog, tree_depth: depth, energy, potential_energy: current.potential_energy, step_size })
    }
}
