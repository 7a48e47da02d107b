//! `AutoGuideList`: parts over disjoint sites fit what one autoguide fits, their summaries merge,
//! a subsampled plate is drawn once for all parts, and parts that overlap or do not fit the
//! model are typed errors that leave the list as it was.

use pyrite::prelude::*;

use super::common::*;

const N: i64 = 5;

/// `mu ~ N(0, 2)` and `nu ~ N(1, 3)`, independent; `x_i ~ N(mu, 1)` and `y_i ~ N(nu, 0.5)`.
fn model(d: &(Tensor, Tensor)) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(2.0))?)?;
    let nu = sample("nu", Normal::new(c64(1.0), c64(3.0))?)?;
    plate("data", N, |_| {
        observe("x", Normal::new(&mu, c64(1.0))?, &d.0)?;
        observe("y", Normal::new(&nu, c64(0.5))?, &d.1)
    })?;
    Ok(())
}

fn data() -> (Tensor, Tensor) {
    (t64(&[0.3, 1.9, 1.2, 0.8, 2.1]), t64(&[-0.4, 0.1, -0.9, 0.3, -0.2]))
}

/// The exact posterior `(mean, sd)` of `mu` and of `nu`.
fn exact(d: &(Tensor, Tensor)) -> [(f64, f64); 2] {
    let (sx, sy) = (scalar(&d.0.sum(Kind::Double)), scalar(&d.1.sum(Kind::Double)));
    let (pm, pn) = (1.0 / 4.0 + N as f64, 1.0 / 9.0 + N as f64 / 0.25);
    [(sx / pm, pm.powf(-0.5)), ((1.0 / 9.0 + sy / 0.25) / pn, pn.powf(-0.5))]
}

/// The model with only the named sites visible (Pyro's `poutine.block(model, expose=...)`).
fn exposing(names: &'static [&'static str]) -> impl Fn(&(Tensor, Tensor)) -> Result<()> {
    move |d| block(BlockSpec::expose(names), || model(d))
}

/// The posterior `(median, sd)` of a site from the guide's 10% and 90% quantiles.
fn median_sd(guide: &dyn AutoGuide, site: &str) -> (f64, f64) {
    let qs = guide.quantiles(&[0.1, 0.9]).unwrap();
    let z90 = 1.2815515655446004;
    (scalar(&guide.median().unwrap()[site]), (scalar(&qs[1][site]) - scalar(&qs[0][site])) / (2.0 * z90))
}

#[test]
fn two_parts_over_disjoint_sites_fit_the_posterior_of_one_autonormal() {
    seeded(70, || {
        let d = data();
        let one = AutoNormal::new(&model, &d).unwrap();
        fit(&model, &one, &d, 600, 0.05, 0.05, 8);
        with_param_store(&new_param_store(), || {
            // The parts in the other order than the model's sites, so the draws differ too.
            let mut list = AutoGuideList::new(&model, &d).unwrap();
            list.append(AutoNormal::new(&exposing(&["nu"]), &d).unwrap()).unwrap();
            list.append(AutoNormal::new(&exposing(&["mu"]), &d).unwrap()).unwrap();
            fit(&model, &list, &d, 600, 0.05, 0.05, 8);
            assert_eq!(list.median().unwrap().keys().collect::<Vec<_>>(), vec!["nu", "mu"], "the parts' sites, part after part");
            for (site, (mean, sd)) in ["mu", "nu"].into_iter().zip(exact(&d)) {
                let (m1, s1) = median_sd(&one, site);
                let (m2, s2) = median_sd(&list, site);
                assert_near(&format!("{site}: one AutoNormal's median against the exact mean"), m1, mean, 0.1 * sd);
                assert_near(&format!("{site}: the list's median against the exact mean"), m2, mean, 0.1 * sd);
                assert_rel(&format!("{site}: one AutoNormal's sd against the exact sd"), s1, sd, 0.1);
                assert_rel(&format!("{site}: the list's sd against the exact sd"), s2, sd, 0.1);
                assert_near(&format!("{site}: the list's median against one AutoNormal's"), m2, m1, 0.1 * sd);
                assert_rel(&format!("{site}: the list's sd against one AutoNormal's"), s2, s1, 0.1);
            }
        });
    });
}

#[test]
fn parts_of_different_families_merge_their_summaries() {
    seeded(71, || {
        let d = data();
        let mut list = AutoGuideList::new(&model, &d).unwrap();
        list.append(AutoDelta::new(&exposing(&["nu"]), &d).unwrap()).unwrap();
        list.append(AutoMultivariateNormal::new(&exposing(&["mu"]), &d).unwrap()).unwrap();
        fit(&model, &list, &d, 400, 0.05, 0.05, 8);
        // Normal-Normal: nu's MAP is its posterior mean; mu's Gaussian has the exact moments.
        let [(mu_mean, mu_sd), (nu_mean, _)] = exact(&d);
        let (m, s) = median_sd(&list, "mu");
        assert_near("median of mu", m, mu_mean, 0.1 * mu_sd);
        assert_rel("sd of mu", s, mu_sd, 0.15);
        let map = scalar(&list.median().unwrap()["nu"]);
        assert_near("MAP of nu", map, nu_mean, 0.01);
        // Quantiles and draws merge the parts': the point mass's are its point.
        let qs = list.quantiles(&[0.1, 0.9]).unwrap();
        assert!(qs.iter().all(|q| scalar(&q["nu"]) == map && q.len() == 2));
        let draws = list.sample_posterior(50).unwrap();
        assert_eq!(draws.keys().collect::<Vec<_>>(), vec!["nu", "mu"]);
        assert_eq!((draws["nu"].size(), draws["mu"].size()), (vec![50], vec![50]));
        assert!(to_vec(&draws["nu"]).iter().all(|v| *v == map));
        assert!(scalar(&draws["mu"].std(true)) > 0.0);
        // The posterior, part by part: a Delta per site, then the joint Gaussian.
        let posterior = list.get_posterior().unwrap();
        let GuidePosterior::Parts(parts) = &posterior else { panic!("a list's posterior is its parts'") };
        assert_eq!(parts.len(), 2);
        assert_eq!(posterior.site("nu").unwrap().name(), "Delta");
        assert_eq!(parts[1].joint().unwrap().event_shape(), &[1]);
        assert!(posterior.site("mu").is_none(), "mu lies in the joint vector of part 1");
    });
}

#[test]
fn a_site_guided_by_two_parts_is_guide_overlap_and_leaves_the_list_as_it_was() {
    seeded(72, || {
        let d = data();
        let mut list = AutoGuideList::new(&model, &d).unwrap();
        list.append(AutoNormal::new(&exposing(&["mu"]), &d).unwrap()).unwrap();
        let err = list.append(AutoNormal::new(&model, &d).unwrap()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideOverlap { ref site, first: 0, second: 1 } if site == "mu"), "{err:?}");
        let msg = "site `mu`: parts 0 and 1 of the AutoGuideList both guide it; its parts must guide disjoint sites";
        assert_eq!(err.to_string(), msg);
        let catalogue = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md")).unwrap();
        assert!(catalogue.contains(msg), "docs/errors.md quotes the message");
        // Nothing of the refused part was kept: nu is still free for another part.
        assert_eq!(list.parts().len(), 1);
        assert_eq!(list.prototype().sites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["mu"]);
        list.append(AutoDelta::new(&exposing(&["nu"]), &d).unwrap()).unwrap();
        let tr = get_trace(|| Guide::<()>::call(&list, &())).unwrap();
        assert!(tr.site("mu").is_some() && tr.site("nu").is_some());
    });
}

/// `z_i ~ N(0, 1)` and `x_i ~ N(z_i, 1)`, one local latent per datum.
fn local(x: &Tensor) -> Result<()> {
    plate("data", x.size()[0], |_| {
        let z = sample("z", Normal::new(c64(0.0), c64(1.0))?)?;
        observe("x", Normal::new(z, c64(1.0))?, x)
    })?;
    Ok(())
}

#[test]
fn a_part_that_does_not_fit_the_model_is_refused() {
    seeded(73, || {
        let x = t64(&[0.1, 0.2, 0.3, 0.4]);
        let mut list = AutoGuideList::new(&local, &x).unwrap();
        // A part built on another model: a site the list's model does not have.
        let other = |x: &Tensor| -> Result<()> {
            sample("extra", Normal::new(c64(0.0), c64(1.0))?)?;
            local(x)
        };
        let err = list.append(AutoNormal::new(&other, &x).unwrap()).unwrap_err();
        assert!(matches!(err, PyriteError::UnknownSite(ref site) if site == "extra"), "{err:?}");
        assert_eq!(err.to_string(), "unknown site `extra`");
        // A part built with other arguments: z of another shape.
        let err = list.append(AutoNormal::new(&local, &t64(&[0.1, 0.2, 0.3, 0.4, 0.5])).unwrap()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "z"), "{err:?}");
        assert_eq!(err.to_string(), "site `z`: model and guide disagree: shape [4] in the model but [5] in part 0 of the AutoGuideList");
        assert!(list.parts().is_empty() && list.prototype().sites.is_empty());
    });
}

/// `mu ~ N(0, 1)`; in a plate of 100 data seen 10 at a time, `z_i ~ N(mu, 1)`, `w_i ~ N(0, 1)` and
/// `x_i ~ N(z_i + w_i, 0.5)`.
fn subsampled(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(1.0))?)?;
    Plate::new("data", 100).subsample_size(10).run(|p| {
        let z = sample("z", Normal::new(&mu, c64(1.0))?)?;
        let w = sample("w", Normal::new(c64(0.0), c64(1.0))?)?;
        observe("x", Normal::new(z + w, c64(0.5))?, &p.subsample(x, 0)?)
    })?;
    Ok(())
}

#[test]
fn parts_in_one_subsampled_plate_share_its_subsample() {
    seeded(74, || {
        let x = Tensor::linspace(-3.0, 3.0, 100, (Kind::Double, Device::Cpu));
        let mut list = AutoGuideList::new(&subsampled, &x).unwrap();
        list.append(AutoNormal::new(&|x: &Tensor| block(BlockSpec::expose(&["mu", "z"]), || subsampled(x)), &x).unwrap()).unwrap();
        list.append(AutoDelta::new(&|x: &Tensor| block(BlockSpec::expose(&["w"]), || subsampled(x)), &x).unwrap()).unwrap();
        Guide::<Tensor>::call(&list, &x).unwrap();
        // Both parts' local params set to the data itself (z's with a negligible scale): a part
        // that drew its own subsample would place the data at other indices than the model's.
        {
            let store = get_param_store();
            let mut s = pyrite::core::param_store::lock(&store);
            s.set("AutoNormal.locs.z", &x, Constraint::Real).unwrap();
            s.set("AutoNormal.scales.z", &Tensor::full([100], 1e-9, (Kind::Double, Device::Cpu)), Constraint::Positive).unwrap();
            s.set("AutoDelta.w", &x, Constraint::Real).unwrap();
        }
        for _ in 0..5 {
            let gt = get_trace(|| Guide::<Tensor>::call(&list, &x)).unwrap();
            let mt = get_trace(|| replay(&gt, || subsampled(&x))).unwrap();
            let seen = &mt.site("x").unwrap().value;
            assert_eq!(seen.size(), vec![10]);
            assert!(gt.site("w").unwrap().value.equal(seen), "AutoDelta's part: the model's subsample");
            assert!(scalar(&(&gt.site("z").unwrap().value - seen).abs().max()) < 1e-6, "AutoNormal's part: the model's subsample");
        }
        let losses = fit(&subsampled, &list, &x, 20, 0.01, 1.0, 1);
        assert!(losses.iter().all(|l| l.is_finite()));
    });
}

#[test]
fn two_parts_of_one_continuous_family_need_their_own_prefixes() {
    seeded(75, || {
        let d = data();
        let mut list = AutoGuideList::new(&model, &d).unwrap();
        list.append(AutoDiagonalNormal::new(&exposing(&["mu"]), &d).unwrap()).unwrap();
        list.append(AutoDiagonalNormal::new(&exposing(&["nu"]), &d).unwrap()).unwrap();
        // Both would draw their joint vector at `_AutoDiagonalNormal_latent`.
        let err = get_trace(|| list.sample_sites()).unwrap_err();
        assert!(matches!(err, PyriteError::DuplicateSite(ref site) if site == "_AutoDiagonalNormal_latent"), "{err:?}");
        let mut list = AutoGuideList::new(&model, &d).unwrap();
        list.append(AutoDiagonalNormal::new(&exposing(&["mu"]), &d).unwrap()).unwrap();
        list.append(AutoDiagonalNormal::new(&exposing(&["nu"]), &d).unwrap().with_prefix("nu_guide")).unwrap();
        fit(&model, &list, &d, 400, 0.05, 0.05, 8);
        for (site, (mean, sd)) in ["mu", "nu"].into_iter().zip(exact(&d)) {
            let (m, s) = median_sd(&list, site);
            assert_near(&format!("median of {site}"), m, mean, 0.1 * sd);
            assert_rel(&format!("sd of {site}"), s, sd, 0.15);
        }
        assert_eq!(param_value("nu_guide.scale").size(), vec![1]);
    });
}
