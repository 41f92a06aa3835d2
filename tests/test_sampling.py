"""Measuring on a sample of evaluation users: the sample is seeded, stable and the same for
every model; bands cover the full population's figure about 95 % of the time; deltas are
paired (narrower than the figures' own bands for two similar lists)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.splits import SplitConfig, split_dataset
from recsys.models import create_model
from recsys.rerank import RerankConfig
from recsys.rerank.bands import banded_deltas, banded_figures, held_out_comparison, measure_banded
from recsys.rerank.pipeline import make_lists
from recsys.sampling import (
    EVAL_USERS_ENV,
    Band,
    SampleConfig,
    mean_band,
    paired_band,
    sample_users,
)
from tests.test_rerank import synthetic_dataset


def test_sample_is_seeded_stable_and_independent_of_order():
    users = np.arange(0, 50_000, 3)
    cfg = SampleConfig(max_users=1_000, seed=7)
    a = sample_users(users, cfg)
    b = sample_users(np.concatenate([np.random.default_rng(1).permutation(users), users[:9]]), cfg)
    assert a.size == 1_000 and a.total == len(users) and a.sampled
    assert np.array_equal(a.users, b.users)  # same users, any order, repeats → same sample
    assert np.all(np.diff(a.users) > 0) and np.isin(a.users, users).all()
    other = sample_users(users, SampleConfig(max_users=1_000, seed=8))
    assert not np.array_equal(a.users, other.users)
    assert a.describe() == f"measured on 1,000 of {len(users):,} customers, seed 7"


def test_no_sample_below_the_bound_and_the_bound_is_a_setting(monkeypatch):
    users = np.arange(300)
    whole = sample_users(users, SampleConfig(max_users=300))
    assert not whole.sampled and np.array_equal(whole.users, users)
    assert whole.describe() == "measured on all 300 customers"
    monkeypatch.setenv(EVAL_USERS_ENV, "120")
    assert SampleConfig().max_users == 120 and sample_users(users).size == 120
    monkeypatch.setenv(EVAL_USERS_ENV, "many")
    assert SampleConfig().max_users == 20_000
    assert SampleConfig.model_fields["max_users"].title


def test_band_covers_the_population_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    population = rng.beta(0.3, 2.0, size=200_000)  # skewed, like per-user NDCG
    truth = population.mean()
    users = np.arange(len(population))
    hits, widths = 0, []
    for seed in range(200):
        sample = sample_users(users, SampleConfig(max_users=2_000, seed=seed))
        band = mean_band(population[sample.users])
        hits += band.contains(truth)
        widths.append(band.high - band.low)
    assert 0.90 <= hits / 200 <= 0.99
    # a four times larger sample halves the band
    wide = mean_band(population[sample_users(users, SampleConfig(max_users=8_000)).users])
    assert (wide.high - wide.low) == pytest.approx(np.mean(widths) / 2, rel=0.15)


def test_paired_band_of_identical_values_is_zero_and_needs_the_same_users():
    x = np.random.default_rng(1).random(500)
    band = paired_band(x, x)
    assert band.value == band.low == band.high == 0.0
    with pytest.raises(ValueError, match="same users"):
        paired_band(x, x[:-1])


@pytest.fixture(scope="module")
def fitted():
    ds = synthetic_dataset(n_users=400, n_items=80, seed=3)
    split = split_dataset(ds, SplitConfig(method="random", seed=0))
    ease = create_model("ease").fit(split.train, device="cpu")
    pop = create_model("pop").fit(split.train, device="cpu")
    return split, {"ease": ease, "pop": pop}


def test_the_same_sample_for_every_model_gives_paired_deltas(fitted):
    split, models = fitted
    sample = sample_users(split.test_users, SampleConfig(max_users=200, seed=0))
    assert sample.sampled
    table = held_out_comparison(models, split.train, split.test, sample.users, 10,
                                steps=RerankConfig(method="tail_bonus", strength=0.1))
    assert list(table["list"].unique()) == ["ease", "ease + " + RerankConfig(
        method="tail_bonus", strength=0.1).label(), "pop", "pop + " + RerankConfig(
        method="tail_bonus", strength=0.1).label()]
    base = table.loc[table["list"] == "ease"]
    assert base["delta"].isna().all()  # the baseline has no delta against itself
    assert ((table["low"] <= table["value"]) & (table["value"] <= table["high"])).all()
    # deltas are the difference of the figures on the same users
    for name in table["list"].unique()[1:]:
        part = table.loc[table["list"] == name].set_index("metric")
        diff = part["value"] - base.set_index("metric")["value"]
        assert np.allclose(part["delta"], diff, atol=1e-12)
    # a light boost of the same model: the paired band is far narrower than either band
    ease = models["ease"]
    now = measure_banded(make_lists(ease, split.train, sample.users, 10,
                                    steps=RerankConfig(method="tail_bonus", strength=0.1)),
                         split.train, split.test, sample.users)
    before = measure_banded(make_lists(ease, split.train, sample.users, 10), split.train,
                            split.test, sample.users)
    delta = banded_deltas(now, before)["ndcg"]
    own = banded_figures(now)["ndcg"]
    assert delta.half_width < own.half_width / 2
    assert banded_figures(now)["coverage"].low <= now.summary["coverage"] \
        <= banded_figures(now)["coverage"].high


def test_a_sampled_band_contains_the_every_user_figure(fitted):
    """The lists of a sample of 200 users: the band of each per-user metric holds the figure
    of all evaluation users (a fixed seed: this one is checked, not "most of the time")."""
    split, models = fitted
    everyone = split.test_users
    full = measure_banded(make_lists(models["ease"], split.train, everyone, 10), split.train,
                          split.test, everyone)
    sample = sample_users(everyone, SampleConfig(max_users=200, seed=0))
    part = measure_banded(make_lists(models["ease"], split.train, sample.users, 10),
                          split.train, split.test, sample.users)
    bands = banded_figures(part)
    for metric in ("ndcg", "recall", "arp", "novelty"):
        assert bands[metric].contains(full.summary[metric]), metric


def test_band_text_is_what_what_if_and_compare_show():
    band = Band(0.12345, 0.1201, 0.1267)
    assert band.span() == "0.1201–0.1267"
    assert band.format("{:.3f}") == "0.123 (0.120–0.127)"
    change = Band(0.0012, -0.001, 0.0023)
    assert change.span(signed=True) == "-0.0010 to +0.0023"  # no dash that reads as a minus
    assert change.format(signed=True) == "+0.0012 (-0.0010 to +0.0023)"
    assert Band(-0.5, -0.6, -0.4).format("{:.1%}", signed=True) == "-50.0% (-60.0% to -40.0%)"
