"""One label per setting, metric and method: configs carry their labels as pydantic titles
(declared with the field, or from the shared table by name), and the forms and tables use them
instead of code names."""

from __future__ import annotations

import re

import pytest

from recsys.labels import METHOD_LABELS, field_title, method_label, metric_label
from recsys.models import available_models, get_model_class
from recsys.rerank import METHODS, RerankConfig
from tests.app_support import open_page

CODE_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$|^l2$|^lr$")


@pytest.mark.parametrize("name", available_models())
def test_every_model_setting_has_a_readable_title(name: str) -> None:
    fields = get_model_class(name).config_cls.model_fields
    titles = {n: f.title for n, f in fields.items()}
    assert all(titles.values()), titles
    assert not [t for t in titles.values() if CODE_NAME.match(t)], titles


def test_shared_titles_and_fallback() -> None:
    assert RerankConfig.model_fields["quota_share"].title == "Quota at full strength (share of K)"
    assert field_title("history_half_life_days") == "Recency half-life (days)"
    assert field_title("min_df") == "Min df"  # no entry: the name, made readable
    assert metric_label("aplt") == "Tail share (APLT)" and metric_label("odd") == "odd"
    assert set(METHODS) <= set(METHOD_LABELS)
    assert method_label("tail_bonus", 0.3) == "Tail bonus (additive) at 0.30"


@pytest.mark.usefixtures("navigation_apptest", "workspace_dir")
def test_train_form_shows_labels_not_code_names() -> None:
    at = open_page("train")
    labels = [w.label for kind in ("number_input", "selectbox", "checkbox", "text_input")
              for w in getattr(at, kind)]
    assert "Regularisation (L2 λ)" in labels
    assert not [x for x in labels if CODE_NAME.match(x)], labels


@pytest.mark.parametrize("field, labels", [("allocation", "ALLOCATION_LABELS"),
                                           ("swap_cost", "SWAP_COST_LABELS"),
                                           ("opinion", "OPINION_LABELS")])
def test_every_rerank_choice_has_a_label(field: str, labels: str) -> None:
    """Every choice of the re-rank settings the pages offer has a label, and no label is
    left for a choice that no longer exists."""
    import typing

    import recsys.labels

    choices = set(typing.get_args(RerankConfig.model_fields[field].annotation))
    assert set(getattr(recsys.labels, labels)) == choices
