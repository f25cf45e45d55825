"""Targeting: audience rules, consent, caps, control groups, send time, content, export."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import targeting as tg
from workbench.features import build_features
from workbench.schema import parse_as_of
from workbench.simulate import simulate

AS_OF = pd.Timestamp("2026-06-30", tz="UTC")
SALT = b"test-salt-of-32-characters-long!"
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def _t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _rule(*conditions: dict, **extra) -> dict:
    entry = {"name": "a", "priority": 1, "message_type": "m", "conditions": list(conditions)}
    return {"audiences": [{**entry, **extra}]}


# --------------------------------------------------------------------------- audiences

# One row per situation; the expected audiences are worked out by hand from the defaults.
_TABLE = [
    # id,  churn, clv_tier,  cart, recency, uplift, stage, segment,   tier,      sends90
    ("w1", 0.80, "rest", None, 20.0, None, "active", "At Risk", "Low", 2),
    ("w2", 0.70, "rest", None, 20.0, None, "active", "At Risk", "Low", 2),  # boundary: in
    ("w3", 0.69, "rest", None, 20.0, None, "active", "At Risk", "Low", 2),  # boundary: out
    ("h1", 0.80, "top 1%", None, 20.0, None, "active", "Lost", "Low", 2),  # hvar and win-back
    ("h2", 0.50, "top 5%", None, 20.0, None, "active", "Lost", "Low", 2),  # hvar only
    ("h3", 0.49, "top 1%", None, 20.0, None, "active", "Lost", "Low", 2),  # neither
    ("h4", 0.90, "top 20%", None, 20.0, None, "active", "Lost", "Low", 2),  # win-back only
    ("c1", None, None, 2.0, None, None, "never-purchased", "No Purchase", "Low", 2),  # cart
    ("c2", None, None, 2.5, 10.0, None, "active", "Lost", "Low", 2),  # cart (no order since)
    ("c3", None, None, 2.0, 1.0, None, "active", "Lost", "Low", 2),  # bought since: out
    ("c4", None, None, 0.5, None, None, "active", "Lost", "Low", 2),  # younger than 24 h
    ("c5", None, None, 3.5, None, None, "active", "Lost", "Low", 2),  # older than 72 h
    ("p1", None, None, None, 5.0, 0.03, "active", "Lost", "Low", 2),  # persuadable
    ("p2", None, None, None, 5.0, 0.01, "active", "Lost", "Low", 2),
    ("n1", None, None, None, 5.0, None, "new", "New Customers", "Low", 2),
    ("v1", None, None, None, 5.0, None, "active", "Champions", "Low", 2),
    ("r1", None, None, None, 5.0, None, "active", "Lost", "Inactive", 1),
    ("r2", None, None, None, 5.0, None, "active", "Lost", "Inactive", 0),  # never mailed
]
_EXPECTED = {
    "cart_recovery": ["c1", "c2"],
    "high_value_at_risk": ["h1", "h2"],
    "win_back": ["w1", "w2", "h1", "h4"],
    "persuadables": ["p1"],
    "new_customer_nurture": ["n1"],
    "vip": ["v1"],
    "re_engagement": ["r1"],
}


def _rule_table() -> pd.DataFrame:
    cols = [
        "customer_id",
        "churn_probability",
        "clv_tier",
        "days_since_last_abandoned_cart",
        "recency_days",
        "best_uplift",
        "lifecycle_stage",
        "rfm_segment",
        "engagement_tier",
        "email_sends_90d",
    ]
    frame = pd.DataFrame(_TABLE, columns=cols)
    for col in (
        "churn_probability",
        "days_since_last_abandoned_cart",
        "recency_days",
        "best_uplift",
    ):
        frame[col] = frame[col].astype("float64")
    frame["clv_tier"] = frame["clv_tier"].astype("str")
    return frame


def test_default_audiences_load_with_unique_priorities_and_message_types():
    audiences = tg.load_audiences()
    assert [a.name for a in audiences] == list(_EXPECTED)  # sorted by priority
    assert [a.priority for a in audiences] == list(range(1, 8))
    assert all(a.message_type and 0 <= a.control_share < 1 for a in audiences)


def test_each_default_rule_selects_the_hand_computed_customers():
    match = tg.evaluate_audiences(_rule_table(), tg.load_audiences())
    got = match.members.groupby("audience")["customer_id"].apply(list).to_dict()
    for audience, ids in _EXPECTED.items():
        assert sorted(got.get(audience, [])) == sorted(ids), audience
    assert (match.audiences["status"] == "applicable").all()
    assert match.audiences.set_index("audience")["matched"].to_dict() == {
        k: len(v) for k, v in _EXPECTED.items()
    }


def test_audience_whose_inputs_are_absent_is_not_applicable_with_the_reason():
    table = _rule_table().drop(columns=["churn_probability", "best_uplift"])
    status = tg.evaluate_audiences(table, tg.load_audiences()).audiences.set_index("audience")
    for name in ("win_back", "high_value_at_risk"):
        assert status.loc[name, "status"] == "not applicable"
        assert "churn_probability" in status.loc[name, "reason"]
        assert "churn stage" in status.loc[name, "reason"]
    assert "uplift stage" in status.loc["persuadables", "reason"]
    assert status.loc["vip", "status"] == "applicable"


def test_operators_and_missing_values():
    table = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "x": [1.0, 2.0, np.nan, 3.0],
            "s": pd.Series(["u", "v", None, "w"], dtype="str"),
            "y": [0.0, 5.0, 1.0, np.nan],
        }
    )

    def ids(condition: dict, **extra) -> list[str]:
        audiences = tg.parse_audiences(_rule(condition, **extra))
        return tg.evaluate_audiences(table, audiences).members["customer_id"].tolist()

    assert ids({"column": "x", "op": ">=", "value": 2}) == ["b", "d"]
    assert ids({"column": "x", "op": ">", "value": 2}) == ["d"]
    assert ids({"column": "x", "op": "<=", "value": 2}) == ["a", "b"]
    assert ids({"column": "x", "op": "<", "value": 2}) == ["a"]
    assert ids({"column": "x", "op": "==", "value": 2}) == ["b"]
    assert ids({"column": "x", "op": "!=", "value": 2}) == ["a", "d"]  # missing never matches
    assert ids({"column": "s", "op": "in", "value": ["u", "w"]}) == ["a", "d"]
    assert ids({"column": "s", "op": "not_in", "value": ["u"]}) == ["b", "d"]
    assert ids({"column": "s", "op": "is_null"}) == ["c"]
    assert ids({"column": "s", "op": "not_null"}) == ["a", "b", "d"]
    assert ids({"column": "x", "op": "<", "other": "y"}) == ["b"]
    anyof = [{"column": "x", "op": "==", "value": 1}, {"column": "y", "op": "==", "value": 1}]
    assert ids(*anyof[:1], match="any") == ["a"]
    audiences = tg.parse_audiences(
        {
            "audiences": [
                {
                    "name": "a",
                    "priority": 1,
                    "message_type": "m",
                    "match": "any",
                    "conditions": anyof,
                }
            ]
        }
    )
    assert tg.evaluate_audiences(table, audiences).members["customer_id"].tolist() == ["a", "c"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([], r"expected a mapping with an 'audiences:' list"),
        ({"audiences": [{"name": "Win Back"}]}, r"audience #1, key 'name'.*'Win Back'"),
        (
            _rule({"column": "x", "op": "=>", "value": 1}),
            r"audience 'a', key 'conditions\[0\]\.op': unknown operator '=>'.*did you mean .*>=",
        ),
        (
            {
                "audiences": [
                    {
                        "name": "a",
                        "message_type": "m",
                        "conditions": [{"column": "x", "op": "is_null"}],
                    }
                ]
            },
            r"audience 'a', key 'priority': is required",
        ),
        (
            _rule({"column": "x", "op": "is_null"}, prority=2),
            r"audience 'a', key 'prority': unknown key.*did you mean priority",
        ),
        (
            _rule({"column": "x", "op": "is_null"}, control_share=1.5),
            r"audience 'a', key 'control_share': expected a number in \[0, 1\), got 1.5",
        ),
        (
            _rule({"column": "x", "op": "in", "value": "top 1%"}),
            r"key 'conditions\[0\]\.value': operator 'in' needs a non-empty list",
        ),
        (
            _rule({"column": "x", "op": ">=", "value": "high"}),
            r"key 'conditions\[0\]\.value': operator '>=' needs a number, got 'high'",
        ),
        (
            _rule({"any": [{"column": "x", "op": "is_null", "value": 1}]}),
            r"key 'conditions\[0\]\.any\[0\]\.value': operator 'is_null' takes no value",
        ),
        (
            _rule({"column": "x", "op": "is_null"}, priority=0),
            r"key 'priority': expected an int >= 1",
        ),
        (
            {
                "audiences": [
                    _rule({"column": "x", "op": "is_null"})["audiences"][0],
                    {**_rule({"column": "y", "op": "is_null"})["audiences"][0], "name": "b"},
                ]
            },
            r"audience 'b', key 'priority': 1 is already used by audience 'a'",
        ),
    ],
)
def test_audience_file_errors_name_the_audience_the_key_and_the_value(content, message):
    with pytest.raises(tg.AudienceError, match=message):
        tg.parse_audiences(content)


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "audiences.yml"
    bad.write_text("audiences:\n  - name: a\n    priority: [1\n")
    with pytest.raises(tg.AudienceError, match=r"audiences file .*audiences.yml: not valid YAML"):
        tg.load_audiences(bad)
    bad.write_text(
        "audiences:\n  - name: a\n    priority: 1\n    message_type: m\n"
        "    conditions: [{column: x, op: '>=', value: 1}]\n"
    )
    assert tg.load_audiences(bad)[0].rule == tg.Group("all", (tg.Condition("x", ">=", 1),))
    # yaml.safe_load: a Python object tag is refused, never executed
    bad.write_text("audiences: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(tg.AudienceError, match="not valid YAML"):
        tg.load_audiences(bad)


def test_rule_with_the_wrong_type_for_its_column_is_named_at_evaluation():
    table = pd.DataFrame({"customer_id": ["a"], "rfm_segment": ["Champions"]})
    audiences = tg.parse_audiences(_rule({"column": "rfm_segment", "op": ">=", "value": 3}))
    with pytest.raises(
        tg.AudienceError,
        match=r"audience 'a', condition rfm_segment >= 3: "
        r"'>=' needs a numeric column",
    ):
        tg.evaluate_audiences(table, audiences)


def test_targeting_table_joins_model_outputs_and_names_bad_inputs():
    features = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [1.0, 2.0, 3.0]})
    uplift = pd.DataFrame(
        {
            "customer_id": ["a", "b", "z"],
            "uplift_email": [0.01, 0.04, 0.0],
            "uplift_sms": [0.03, np.nan, 0.0],
        }
    )
    table, notes = tg.targeting_table(features, uplift=uplift, clv=features.assign(clv=0.0))
    assert table["best_arm"].tolist()[:2] == ["sms", "email"] and pd.isna(table["best_arm"][2])
    assert table["best_uplift"].tolist()[:2] == [0.03, 0.04]
    assert any("1 customers not in the features, dropped" in n for n in notes)
    assert table["clv"].tolist() == [1.0, 2.0, 3.0]  # a shared column keeps the features' value
    assert any("clv: column(s) clv also in the features" in n for n in notes)
    given = uplift.assign(best_arm=["email", "sms", "none"])
    table, _ = tg.targeting_table(features, uplift=given)
    assert table["best_uplift"].tolist()[:1] == [0.01] and pd.isna(table["best_uplift"][1])
    named = pd.DataFrame(  # the uplift stage's columns for arms named as in the Hillstrom test
        {"customer_id": ["a", "b"], "uplift_womens_e_mail": [0.05, 0.01],
         "uplift_mens_e_mail": [0.02, 0.03], "best_arm": ["Womens E-Mail", "Mens E-Mail"]}
    )  # fmt: skip
    table, _ = tg.targeting_table(features, uplift=named)
    assert table["best_uplift"].tolist()[:2] == [0.05, 0.03]
    with pytest.raises(tg.TargetingInputError, match=r"churn: column\(s\) churn_probability"):
        tg.targeting_table(features, churn=pd.DataFrame({"customer_id": ["a"], "p": [0.1]}))
    twice = pd.DataFrame({"customer_id": ["a", "a"], "churn_probability": [0.1, 0.2]})
    with pytest.raises(tg.TargetingInputError, match="churn: customer_id must be unique, 1"):
        tg.targeting_table(features, churn=twice)


# --------------------------------------------------------------------------- consent


def _consent_inputs():
    customers = pd.DataFrame(
        {
            "customer_id": list("abcdefghi"),
            "email": [
                "a@x.org",
                "b@x.org",
                "c@x.org",
                "d@x.org",
                "e@x.org",
                "f@x.org",
                "g@x.org",
                " H@X.org ",
                "i@x.org",
            ],
            "email_opt_in": pd.array(
                [True, False, None, True, True, True, True, True, True], dtype="boolean"
            ),
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["b", "d", "e", "f"],
            "event_type": ["unsubscribe", "unsubscribe", "unsubscribe", "bounce"],
            "occurred_at": [
                _t("2026-01-01"),
                _t("2026-06-29 23:59"),
                _t("2026-06-30"),
                _t("2026-03-01"),
            ],
        }
    )
    suppression = tg.SuppressionList.from_frame(
        pd.DataFrame(
            {
                "customer_id": ["g", None, None],
                "email": [None, "h@x.org", None],
                "email_sha256": [None, None, hashlib.sha256(b"i@x.org").hexdigest()],
            }
        )
    )
    return customers, events, suppression


def test_consent_excludes_no_opt_in_unsubscribes_bounces_and_suppressed_customers():
    customers, events, suppression = _consent_inputs()
    table, _ = tg.consent_table(
        customers["customer_id"],
        AS_OF,
        customers=customers,
        email_events=events,
        suppression=suppression,
    )
    got = dict(zip(table["customer_id"], table["excluded_by"].fillna("-"), strict=True))
    assert got == {
        "a": "-",
        "b": "no_opt_in",
        "c": "no_opt_in",
        "d": "unsubscribed",
        "e": "-",  # unsubscribed at as_of: after the cut-off, not counted
        "f": "bounced",
        "g": "suppressed_id",
        "h": "suppressed_email",
        "i": "suppressed_email",
    }
    counts = tg.exclusion_counts(table).set_index("rule")
    assert counts.loc["unsubscribed", "flagged"] == 2  # b and d
    assert counts.loc["unsubscribed", "excluded"] == 1  # b counted under no_opt_in first
    assert counts.loc["eligible", "excluded"] == 2
    assert "email" not in table.columns


def test_without_consent_information_nobody_is_eligible():
    table, notes = tg.consent_table(pd.Series(["a", "b"]), AS_OF)
    assert not table["eligible"].any()
    assert "nobody may be e-mailed" in notes[0]


def test_suppression_list_file(tmp_path):
    path = tmp_path / "suppress.csv"
    path.write_text("Email\n Ann@X.org\n")
    listed = tg.read_suppression_list(path)
    assert listed.email_hashes == {hashlib.sha256(b"ann@x.org").hexdigest()}
    assert "ann" not in repr(listed).lower()
    path.write_text("phone\n123\n")
    with pytest.raises(ValueError, match=r"expected a column customer_id, email or email_sha256"):
        tg.read_suppression_list(path)
    path.write_text("email_sha256\nnot-a-hash\n")
    with pytest.raises(ValueError, match=r"email_sha256 must hold 64 hex characters"):
        tg.read_suppression_list(path)


# --------------------------------------------------------------------------- capping


def test_frequency_cap_keeps_the_highest_priorities_within_the_allowance():
    members = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c"],
            "audience": ["x", "y", "z", "x", "z", "z"],
            "priority": [2, 1, 3, 2, 3, 3],
        }
    )
    recent = pd.Series({"b": 1, "c": 2})
    out = tg.apply_frequency_cap(members, max_messages=2, recent=recent)
    kept = out[out["kept"]].groupby("customer_id")["audience"].apply(list).to_dict()
    assert kept == {"a": ["y", "x"], "b": ["x"]}  # c used both messages already
    reasons = out.set_index(["customer_id", "audience"])["cap_reason"]
    assert reasons[("a", "z")] == "higher-priority audience"
    assert reasons[("b", "z")] == "recent sends"  # its second slot went to the earlier send
    assert reasons[("c", "z")] == "recent sends"
    with pytest.raises(ValueError, match="max_messages must be an int >= 1, got 0"):
        tg.apply_frequency_cap(members, max_messages=0)


def test_recent_sends_count_only_the_cap_window_before_as_of():
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "event_type": ["sent", "sent", "open", "sent"],
            "occurred_at": [
                _t("2026-06-23"),
                _t("2026-06-22 23:59"),
                _t("2026-06-29"),
                _t("2026-06-30"),
            ],
        }
    )
    assert tg.recent_sends(events, AS_OF, 7).to_dict() == {"a": 1}


def test_overlap_matrix():
    members = pd.DataFrame(
        {"customer_id": ["a", "a", "b", "c", "c", "c"], "audience": ["x", "y", "y", "x", "y", "z"]}
    )
    got = tg.overlap_matrix(members, ["x", "y", "z"])
    assert got.to_numpy().tolist() == [[2, 2, 1], [2, 3, 1], [1, 1, 1]]


# --------------------------------------------------------------------------- control


def test_control_group_has_the_stated_share_and_is_reproducible():
    ids = pd.Series([f"C{i:06d}" for i in range(10_000)])
    assigned = pd.DataFrame({"customer_id": ids, "audience": np.where(ids.index < 4000, "x", "y")})
    one = tg.assign_control(assigned, {"x": 0.1, "y": 0.25}, seed=7)
    two = tg.assign_control(assigned.sample(frac=1, random_state=3), {"x": 0.1, "y": 0.25}, seed=7)
    assert one.groupby("audience")["control"].sum().to_dict() == {"x": 400, "y": 1500}
    assert set(one.loc[one["control"], "customer_id"]) == set(
        two.loc[two["control"], "customer_id"]
    )
    other = tg.assign_control(assigned, {"x": 0.1, "y": 0.25}, seed=8)
    same = (one["control"] & other["control"]).sum() / one["control"].sum()
    assert same < 0.35  # a new seed draws a new group (chance overlap ≈ share)
    # unrelated to id order: the share in the first and second half of each audience
    for _, part in one.groupby("audience"):
        half = len(part) // 2
        assert abs(part["control"].iloc[:half].mean() - part["control"].iloc[half:].mean()) < 0.04
    # adding customers keeps almost every earlier assignment
    more = pd.concat(
        [assigned, pd.DataFrame({"customer_id": [f"N{i}" for i in range(400)], "audience": "x"})]
    )
    grown = tg.assign_control(more, {"x": 0.1}, seed=7).set_index("customer_id")["control"]
    before = one[one["audience"] == "x"].set_index("customer_id")["control"]
    assert (grown.reindex(before.index) == before).mean() > 0.97
    table = tg.control_table(one, {"x": 0.1, "y": 0.25}, seed=7, audiences=["x", "y"])
    assert table["realised_share"].tolist() == [0.1, 0.25]
    assert table["seed"].tolist() == [7, 7]


# --------------------------------------------------------------------------- keys & export


def test_pseudonymous_key_is_stable_salted_and_does_not_reveal_the_id():
    ids = pd.Series(["C0000001", "C0000002", "42"])
    key = tg.pseudonymous_key(ids, SALT)
    assert key.tolist() == tg.pseudonymous_key(ids, SALT).tolist()
    for salt in (SALT, SALT * 3):  # a salt longer than SHA-256's block is hashed first
        expected = [hmac.new(salt, i.encode(), hashlib.sha256).hexdigest() for i in ids]
        assert tg.pseudonymous_key(ids, salt).tolist() == expected
    assert key.str.fullmatch(r"[0-9a-f]{64}").all()
    assert key.nunique() == 3
    assert not any(i in k for i, k in zip(ids, key, strict=True))
    plain = [hashlib.sha256(i.encode()).hexdigest() for i in ids]
    assert not set(plain) & set(key)  # an unsalted hash of a guessed id does not match
    other = tg.pseudonymous_key(ids, b"another salt of 16+ characters")
    assert not set(other) & set(key)
    with pytest.raises(ValueError, match="salt must be bytes of length >= 16"):
        tg.pseudonymous_key(ids, b"short")


def test_salt_comes_from_argument_environment_or_file(tmp_path, monkeypatch):
    monkeypatch.delenv(tg.SALT_ENV, raising=False)
    with pytest.raises(ValueError, match=f"no salt; pass salt=..., set .*{tg.SALT_ENV}"):
        tg.resolve_salt()
    with pytest.raises(ValueError, match="at least 16 characters, got 5"):
        tg.resolve_salt("short")
    monkeypatch.setenv(tg.SALT_ENV, "from-the-environment-0123")
    assert tg.resolve_salt() == b"from-the-environment-0123"
    monkeypatch.delenv(tg.SALT_ENV)
    path = tmp_path / "salt"
    first = tg.resolve_salt(salt_file=path, create=True)
    assert len(first) == 64 and tg.resolve_salt(salt_file=path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "audience": ["win_back", "win_back", "vip"],
            "priority": [3, 3, 6],
            "message_type": ["winback_offer", "winback_offer", "vip_perks"],
            "send_hour": pd.array([19, 8, 12], dtype="Int64"),
            "control": [False, True, False],
            "top_category": ["home", "toys", "books"],
            "why": ["churn probability: 0.8", "churn probability: 0.9", "rfm segment: Champions"],
        }
    )


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "email": ["ann@x.org", "bob@y.com", "cy@z.net"],
            "first_name": ["Ann", "Bob", "Cy"],
        }
    )


def _files_text(folder) -> str:
    text = ""
    for path in sorted(folder.iterdir()):
        if path.suffix == ".parquet":
            text += pd.read_parquet(path).to_csv(index=False)
        else:
            text += path.read_text()
    return text


def test_export_has_no_contact_data_without_include_contact(tmp_path):
    manifest = tg.export_audiences(
        _rows(),
        tmp_path / "out",
        salt=SALT,
        customers=_customers(),
        audiences=["win_back", "vip", "cart_recovery"],
    )
    text = _files_text(tmp_path / "out")
    assert not EMAIL.search(text)
    assert "Ann" not in text and "Bob" not in text
    files = {(f["audience"], f["format"]): f for f in manifest["files"]}
    assert files[("win_back", "csv")]["rows"] == 2 and files[("vip", "parquet")]["rows"] == 1
    assert files[("win_back", "csv")]["control_rows"] == 1
    assert files[("cart_recovery", "csv")]["rows"] == 0  # empty audience: header only
    for f in manifest["files"]:
        digest = hashlib.sha256((tmp_path / "out" / f["file"]).read_bytes()).hexdigest()
        assert f["sha256"] == digest
    back = pd.read_parquet(tmp_path / "out" / "win_back.parquet")
    assert back["key"].tolist() == tg.pseudonymous_key(back["customer_id"], SALT).tolist()
    assert back.columns[:7].tolist() == [
        "key",
        "customer_id",
        "audience",
        "priority",
        "message_type",
        "send_hour",
        "control",
    ]
    saved = json.loads((tmp_path / "out" / tg.MANIFEST_FILE).read_text())
    assert saved["include_contact"] is False and SALT.decode() not in json.dumps(saved)


def test_export_with_include_contact_adds_only_the_address(tmp_path):
    tg.export_audiences(
        _rows(),
        tmp_path,
        salt=SALT,
        include_contact=True,
        customers=_customers(),
        include_customer_id=False,
    )
    back = pd.read_csv(tmp_path / "win_back.csv")
    assert back["email"].tolist() == ["ann@x.org", "bob@y.com"]
    assert "customer_id" not in back and "first_name" not in back
    with pytest.raises(ValueError, match="include_contact=True needs the customers table"):
        tg.export_audiences(_rows(), tmp_path, salt=SALT, include_contact=True)


def test_export_refuses_addresses_in_content_and_folders_inside_reports(tmp_path):
    leaky = _rows().assign(why=["write to ann@x.org", "", ""])
    with pytest.raises(ValueError, match=r"column\(s\) why hold e-mail addresses"):
        tg.export_audiences(leaky, tmp_path / "out", salt=SALT)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="is inside .*reports; send lists must be written"):
        tg.export_audiences(
            _rows(), tmp_path / "reports" / "x", salt=SALT, refuse_inside=[tmp_path / "reports"]
        )


# --------------------------------------------------------------------------- content


def test_content_fields_carry_products_category_reasons_and_a_name_key_only():
    table = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "top_category": pd.Series([None, "home"], dtype="str"),
            "most_viewed_category": ["toys", "books"],
            "churn_probability": [0.8123, 0.75],
            "top_reasons": [np.array(["no purchase for 240 days (raises risk)", "2 orders"]), None],
            "clv_tier": ["top 1%", "rest"],
        }
    )
    recs = tg.check_recommendations(
        pd.DataFrame(
            {
                "customer_id": ["C1", "C1", "C1", "C2"],
                "rank": [2, 1, 3, 1],
                "product_id": ["P2", "P1", "P3", "P9"],
                "reason": ["r2", "r1", "r3", "r9"],
            }
        )
    )
    products = pd.DataFrame(
        {"product_id": ["P1", "P2", "P3", "P9"], "name": ["Lamp", "Mug", "Kite", "Sofa"]}
    )
    audiences = tg.parse_audiences(
        _rule(
            {"column": "churn_probability", "op": ">=", "value": 0.7},
            explain=["churn_probability", "top_reasons"],
        )
    )
    assigned = pd.DataFrame({"customer_id": ["C1", "C2"], "audience": ["a", "a"]})
    out = tg.content_fields(
        assigned,
        table,
        audiences=audiences,
        recommendations=recs,
        products=products,
        n_products=2,
        first_name_key="fname",
    )
    assert out["first_name_key"].tolist() == ["fname", "fname"]
    assert out["top_category"].tolist() == ["toys", "home"]  # falls back to the most viewed
    assert out[["product_1_id", "product_1_name", "product_1_reason"]].iloc[0].tolist() == [
        "P1",
        "Lamp",
        "r1",
    ]
    assert out["product_2_id"].tolist()[0] == "P2" and pd.isna(out["product_2_id"].iloc[1])
    assert "product_3_id" not in out
    assert out["churn_reasons"].iloc[0] == "no purchase for 240 days (raises risk) | 2 orders"
    assert out["clv_tier"].tolist() == ["top 1%", "rest"]
    assert out["why"].tolist() == [
        "churn probability: 0.812; top reasons: no purchase for 240 days (raises risk) | 2 orders",
        "churn probability: 0.75",
    ]


def test_preview_escapes_data_masks_the_name_and_hides_ids():
    rows = _rows().assign(top_category=["<script>alert(1)</script>", "toys", "books"])
    html = tg.render_preview(rows, as_of=AS_OF, n=3)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("[first_name]") == 3
    assert "C1" not in html and not EMAIL.search(html)
    assert html.index('data-audience="win_back"') < html.index("control group: not sent")
    template = tg.load_template()
    assert template.environment.autoescape is True


# --------------------------------------------------------------------------- send time


def _synthetic_events(n=2000, weeks=40, share_preferred=0.8, machine_share=0.15, seed=1):
    """Weekly campaigns sent at 10:00–10:10 UTC. Customers with a preferred hour (uniform
    6–23 h) open at it ± N(0, 0.7 h); the others at hours drawn from one population
    profile (peak in the evening). A share of customers also has a mail client that
    opens every message 1–30 s after delivery (machine opens)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:05d}" for i in range(n)])
    preferred = rng.random(n) < share_preferred
    hour = np.where(preferred, rng.uniform(6, 23, n), np.nan)
    machine = rng.random(n) < machine_share
    profile = np.array([1, 1, 1, 1, 1, 1, 2, 4, 6, 6, 5, 4, 5, 5, 4, 4, 5, 6, 8, 9, 8, 6, 3, 2.0])
    profile /= profile.sum()
    start = AS_OF - pd.Timedelta(weeks=weeks)
    parts = []
    for w in range(weeks):
        day = start + pd.Timedelta(weeks=w)
        sent = pd.DatetimeIndex(
            day + pd.Timedelta(hours=10) + pd.to_timedelta(rng.integers(0, 600, n), unit="s")
        )
        campaign = f"K{w:03d}"
        opened = rng.random(n) < 0.35
        h = np.where(
            preferred, hour + rng.normal(0, 0.7, n), rng.choice(24, n, p=profile) + rng.random(n)
        )
        at = pd.DatetimeIndex(day + pd.to_timedelta(h % 24, unit="h"))
        at = at + pd.to_timedelta((at < sent).astype(int), unit="D")
        bot = sent[machine] + pd.to_timedelta(rng.integers(1, 30, int(machine.sum())), unit="s")
        parts += [
            pd.DataFrame({"customer_id": ids, "event_type": "sent", "occurred_at": sent}),
            pd.DataFrame(
                {"customer_id": ids[opened], "event_type": "open", "occurred_at": at[opened]}
            ),
            pd.DataFrame({"customer_id": ids[machine], "event_type": "open", "occurred_at": bot}),
        ]
        for p in parts[-3:]:
            p["campaign_id"] = campaign
    events = pd.concat(parts, ignore_index=True)
    return events[events["occurred_at"] < AS_OF].reset_index(drop=True), pd.Series(hour, ids)


def test_interactions_drop_machine_opens_and_use_clicks_without_a_human_open():
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "b", "c"],
            "campaign_id": ["k", "k", "k", "k", "k", "k", "k"],
            "event_type": ["sent", "open", "open", "sent", "open", "click", "open"],
            "occurred_at": [
                _t("2026-06-01 10:00"),
                _t("2026-06-01 10:00:30"),
                _t("2026-06-01 20:15"),
                _t("2026-06-01 10:05"),
                _t("2026-06-01 10:06"),
                _t("2026-06-02 07:00"),
                # c has no own send: the campaign's first send (10:00) is used
                _t("2026-06-01 10:01"),
            ],
        }
    )
    rows, counts = tg.interaction_times(events, AS_OF, machine_open_seconds=120)
    assert rows.set_index("customer_id")["hour"].to_dict() == {"a": 20, "b": 7}
    assert rows.set_index("customer_id")["kind"].to_dict() == {"a": "open", "b": "click"}
    assert counts["machine_opens"] == 3  # a at 30 s, b at 60 s, c at 60 s of the first send


def test_interactions_keep_events_without_a_campaign_apart_and_leave_out_unknown_customers(
    caplog,
):
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", None, "b"],
            "campaign_id": [None, None, "k", "k", "k"],
            "event_type": ["open", "click", "open", "open", "open"],
            "occurred_at": [
                _t("2026-06-01 08:10"),
                _t("2026-06-02 09:10"),
                _t("2026-06-03 10:10"),
                _t("2026-06-03 11:10"),
                _t("2026-06-30 12:00"),  # on as_of: not before it
            ],
        }
    )
    with caplog.at_level("INFO", logger="workbench.targeting.sendtime"):
        rows, counts = tg.interaction_times(events, AS_OF)
    # each event without a campaign is its own interaction, in time order
    assert rows["hour"].tolist() == [8, 9, 10]
    assert rows["kind"].tolist() == ["open", "click", "open"]
    assert rows["campaign_id"].tolist() == ["_event_0", "_event_1", "k"]
    assert set(rows["customer_id"]) == {"a"}
    assert counts["opens_without_send"] == 2 and counts["interactions"] == 3
    assert "1 e-mail event(s) without a customer id left out" in caplog.text


def test_send_time_recovers_planted_hours():
    """Gain threshold: the personal hours must recover at least half of the oracle's gain
    over the single best hour (measured 0.96 on this example), with a bootstrap interval
    above zero; ignoring machine opens must be worth something (measured 0.78 vs 0.69)."""
    events, truth = _synthetic_events()
    result = tg.evaluate_send_hours(events, AS_OF, truth=truth)
    m = result.metrics
    assert m["hit_rate_oracle"] > m["hit_rate_best_hour"] + 0.3  # the planted signal is there
    assert m["share_of_oracle_gain"] >= 0.5
    assert m["gain_ci95"][0] > 0
    naive = tg.evaluate_send_hours(events, AS_OF, truth=truth, discount_machine_opens=False)
    assert m["hit_rate_personal"] > naive.metrics["hit_rate_personal"] + 0.03
    assert m["machine_opens"] > 0


def test_send_time_loses_nothing_without_preferred_hours():
    """Everyone opens at hours from one population profile: personal hours must not do
    measurably worse than the best single hour (gain > -0.01 and the interval reaches 0)."""
    events, truth = _synthetic_events(share_preferred=0.0)
    m = tg.evaluate_send_hours(events, AS_OF, truth=truth).metrics
    assert m["gain"] > -0.01
    assert m["gain_ci95"][1] >= 0
    assert m["prior_strength"] > 100  # empirical Bayes found no individual signal


def test_customers_without_history_get_the_population_hour():
    events, _ = _synthetic_events(n=300, weeks=10)
    rows, _ = tg.interaction_times(events, AS_OF)
    fit = tg.fit_send_hours(rows, pd.Series(["C00001", "nobody"]))
    h = fit.hours.set_index("customer_id")
    assert h.loc["nobody", "send_hour"] == fit.population_hour
    assert h.loc["nobody", "basis"] == "fallback" and h.loc["nobody", "prior_weight"] == 1.0
    assert h.loc["C00001", "basis"] == "history" and h.loc["C00001", "interactions"] > 0
    fixed = tg.fit_send_hours(rows, prior_strength=5.0)
    assert fixed.prior_strength == 5.0 and fixed.prior_method == "given"


# --------------------------------------------------------------------------- whole run


@pytest.fixture(scope="module")
def demo():
    data = simulate(customers=3000, seed=7)
    features = build_features(data.tables, AS_OF)
    rng = np.random.default_rng(0)
    ids = features["customer_id"]
    churn = pd.DataFrame({"customer_id": ids, "churn_probability": rng.beta(2, 3, len(ids))})
    churn["top_reasons"] = [["no purchase for 240 days (raises risk)"]] * len(ids)
    clv = pd.DataFrame({"customer_id": ids, "clv": rng.gamma(1.0, 100.0, len(ids))})
    rank = clv["clv"].rank(pct=True, ascending=False)
    clv["clv_tier"] = np.select(
        [rank <= 0.01, rank <= 0.05, rank <= 0.2], ["top 1%", "top 5%", "top 20%"], "rest"
    )
    products = data.tables["products"]
    recs = pd.DataFrame(
        {
            "customer_id": np.repeat(ids, 3),
            "rank": np.tile([1, 2, 3], len(ids)),
            "product_id": rng.choice(products["product_id"], 3 * len(ids)),
            "reason": "popular in your category",
        }
    )
    return {
        "features": features,
        "churn": churn,
        "clv": clv,
        "recommendations": recs,
        "customers": data.tables["customers"],
        "products": products,
        "email_events": data.tables["email_events"],
    }


def _plan(demo, **kwargs):
    return tg.plan_targeting(as_of=parse_as_of("2026-06-30"), **{**demo, **kwargs})


@pytest.mark.slow
def test_plan_respects_consent_suppression_and_the_cap(demo):
    first = _plan(demo)
    members = first.rows["customer_id"]
    some = members.drop_duplicates().iloc[:10].tolist()  # suppress 5 by id, 5 by address
    customers = demo["customers"].set_index("customer_id")
    suppression = tg.SuppressionList.from_frame(
        pd.DataFrame(
            {
                "customer_id": some[:5] + [None] * 5,
                "email": [None] * 5 + customers.loc[some[5:], "email"].str.upper().tolist(),
            }
        )
    )
    plan = _plan(demo, suppression=suppression)
    sent = set(plan.rows["customer_id"])
    assert not sent & set(some)
    opted = customers["email_opt_in"].fillna(False).astype(bool)
    assert opted.reindex(list(sent)).all()
    ev = demo["email_events"]
    gone = set(
        ev.loc[
            ev["event_type"].isin(["unsubscribe", "bounce"]) & (ev["occurred_at"] < AS_OF),
            "customer_id",
        ]
    )
    assert gone and not sent & gone
    exclusions = plan.exclusions.set_index("rule")
    assert exclusions.loc["suppressed_id", "members_excluded"] == 5
    assert exclusions.loc["suppressed_email", "members_excluded"] == 5
    # one message per customer (max_messages=1), the highest priority they were eligible for
    assert plan.rows["customer_id"].is_unique
    best = plan.capped.groupby("customer_id")["priority"].min()
    chosen = plan.rows.set_index("customer_id")["priority"]
    assert (chosen == best.reindex(chosen.index)).all()
    assert (plan.overlap_after.to_numpy() == np.diag(np.diag(plan.overlap_after))).all()
    assert plan.overlap_before.to_numpy().sum() > np.trace(plan.overlap_before.to_numpy())


@pytest.mark.slow
def test_plan_cap_with_two_messages_and_recent_sends(demo):
    events = demo["email_events"]
    late = events[events["event_type"] == "sent"].iloc[:300].copy()
    late["occurred_at"] = _t("2026-06-27")  # pretend some customers were just mailed
    params = tg.TargetingParams(max_messages=2)
    plan = _plan(demo, email_events=pd.concat([events, late]), params=params)
    recent = tg.recent_sends(pd.concat([events, late]), AS_OF, params.cap_days)
    per = plan.assigned["customer_id"].value_counts()
    allowance = (2 - recent.reindex(per.index).fillna(0)).clip(lower=0)
    assert (per <= allowance).all() and per.max() == 2
    assert plan.sizes["lost_to_recent_sends"].sum() > 0


@pytest.mark.slow
def test_plan_controls_send_hours_and_summary(demo):
    plan = _plan(demo)
    sizes = plan.sizes.set_index("audience")
    assert sizes.loc["persuadables", "status"] == "not applicable"
    assert (sizes["matched"] >= sizes["after_consent"]).all()
    assert (sizes["after_consent"] >= sizes["after_cap"]).all()
    assert (sizes["after_cap"] == sizes["control"] + sizes["treatment"]).all()
    for audience in plan.audiences:
        n = sizes.loc[audience.name, "after_cap"]
        assert sizes.loc[audience.name, "control"] == round(audience.control_share * n)
    again = _plan(demo)
    assert plan.rows.equals(again.rows)  # same inputs, same seed: same lists, same groups
    assert plan.rows["send_hour"].between(0, 23).all()
    summary = tg.targeting_summary(plan)
    text = json.dumps(summary)
    assert not EMAIL.search(text)
    by_name = {a["audience"]: a for a in summary["audiences"]}
    assert sum(a["after_cap"] for a in by_name.values()) == len(plan.rows)
    assert summary["totals"]["messages"] == int((~plan.rows["control"]).sum())
    assert summary["overlaps"]["customers_in_several_after_cap"] == 0
    assert summary["overlaps"]["customers_in_several_before_cap"] > 0
    assert (
        summary["send_time"]["evaluation"]["hit_rate_personal"]
        >= summary["send_time"]["evaluation"]["hit_rate_best_hour"]
    )
    html = tg.render_preview(plan.rows, as_of=plan.as_of, n=4)
    assert html.count('class="card"') == 4 and not EMAIL.search(html)


def test_params_are_checked():
    with pytest.raises(ValueError, match="max_messages must be a positive int, got 0"):
        tg.TargetingParams(max_messages=0)
    with pytest.raises(ValueError, match=r"default_control_share must be in \[0, 1\), got 1"):
        tg.TargetingParams(default_control_share=1)


# --------------------------------------------------------------------------- readout


def _raise(exc):
    def read(name):
        if name == "clv":
            return pd.DataFrame({"customer_id": ["a"], "clv": [1.0]}), None
        raise exc(f"{name} of another source. Run stage x first")

    return read


def test_read_upstream_uses_only_outputs_the_catalog_hands_over():
    from workbench.catalog import MissingOutputError, StaleOutputError

    for exc in (MissingOutputError, StaleOutputError):
        inputs, notes = tg.read_upstream(_raise(exc))
        assert set(inputs) == {"churn", "clv", "recommendations", "uplift"}
        assert inputs["churn"] is None and inputs["uplift"] is None
        assert inputs["clv"]["clv"].tolist() == [1.0]
        assert notes[0] == "churn_scores: not used (churn_scores of another source)"
        assert notes[1] == "clv: 1 rows of this source and as_of"
    with pytest.raises(KeyError):  # anything else is a real error, not "absent"
        tg.read_upstream(_raise(KeyError))


def test_stage_is_not_applicable_only_when_nothing_can_be_built():
    f = pd.DataFrame({"customer_id": ["a"]})
    events = pd.DataFrame({"customer_id": ["a"], "occurred_at": [_t("2026-07-01")]})
    ok = {"customers": f, "email_events": events.assign(occurred_at=_t("2026-06-01"))}
    assert tg.applicable(f, ok, AS_OF) is None
    assert tg.applicable(f.iloc[:0], ok, AS_OF) == (
        "the feature table holds no customer as of 2026-06-30"
    )
    assert tg.applicable(f, {"email_events": events}, AS_OF).startswith("no customers table")
    assert tg.applicable(f, {"customers": f, "email_events": events}, AS_OF) == (
        "no e-mail event before 2026-06-30"
    )
    table = _rule_table().drop(columns=["churn_probability"])
    status = tg.evaluate_audiences(table, tg.load_audiences()).audiences

    class Plan:  # plan_applicable reads the audience statuses only
        pass

    plan = Plan()
    plan.status = status
    assert tg.plan_applicable(plan) is None
    plan.status = status.assign(status="not applicable")
    assert tg.plan_applicable(plan).startswith("no audience is applicable: cart_recovery (")


def test_files_beside_the_data(tmp_path):
    assert tg.beside_data("", tmp_path, "audiences.yml") is None
    (tmp_path / "audiences.yml").write_text("version: 1\n")
    assert tg.beside_data("", tmp_path, "audiences.yml") == tmp_path / "audiences.yml"
    db = tmp_path / "shop.duckdb"  # a DuckDB source: the file's folder
    assert tg.beside_data("", db, "audiences.yml") == tmp_path / "audiences.yml"
    with pytest.raises(FileNotFoundError, match=r"file .*nope.csv \(given\) does not exist"):
        tg.beside_data(str(tmp_path / "nope.csv"), tmp_path, "suppression.csv")
    assert tg.planted_hours(tmp_path) is None


def test_new_params_are_checked():
    with pytest.raises(ValueError, match="include_contact must be True or False, got 'yes'"):
        tg.TargetingParams(include_contact="yes")
    with pytest.raises(ValueError, match="audiences_file must be a path or empty, got None"):
        tg.TargetingParams(audiences_file=None)


@pytest.mark.slow
def test_stage_summary_and_headline_hold_sizes_and_no_contact_data(demo, tmp_path):
    plan = _plan(demo)
    manifest = tg.export_audiences(plan.rows, tmp_path / "x", salt=SALT)
    summary = tg.stage_summary(plan, manifest, inputs=["churn_scores: used"], export_folder="x")
    assert not EMAIL.search(json.dumps(summary))
    head = summary["headline"]
    assert head["items"][0] == {"label": "messages", "value": summary["totals"]["messages"],
                                "kind": "int"}  # fmt: skip
    sizes = plan.sizes.set_index("audience")
    for item in head["items"][2:-1]:  # the largest audiences after the cap
        assert sizes.loc[item["label"], "after_cap"] == item["value"]
    assert head["status"] == "warning" and "not applicable: persuadables" in head["sentence"]
    assert summary["metrics"]["vip_after_cap"] == sizes.loc["vip", "after_cap"]
    assert summary["export"]["folder"] == "x" and summary["inputs"] == ["churn_scores: used"]
    funnel = tg.funnel_table(plan)
    assert funnel["priority"].is_monotonic_increasing
    assert funnel.loc[funnel["audience"] == "persuadables", "reason"].iloc[0].startswith("needs")
    before = tg.overlap_table(plan, after_cap=False).set_index("audience")
    assert "persuadables" not in before.index and list(before.columns) == list(before.index)
    preview = tg.preview_table(plan.rows, n=3, seed=7, first_name_key="fname")
    assert len(preview) == 3 and preview["opening"].str.startswith("Hi [fname], ").all()
    assert "customer_id" not in preview.columns


# --------------------------------------------------------------------------- demo truth


@pytest.fixture(scope="module")
def demo_email(demo_dir):
    events = pd.read_parquet(demo_dir / "email_events.parquet")
    return events, tg.planted_hours(demo_dir)


@pytest.mark.slow
def test_send_time_on_the_demo_recovers_the_planted_hours(demo_email):
    """On the default demo (20,000 customers, seed 7), measured: personal hours hit 0.681
    of held-out opens and clicks, the best single hour 0.347, the planted hours 0.744 —
    0.84 of the oracle's gain (threshold 0.5); 0.82 among customers with a planted hour.
    Learning from every open (machine opens too) hits only 0.651."""
    events, truth = demo_email
    m = tg.evaluate_send_hours(events, AS_OF, truth=truth).metrics
    assert m["heldout_customers"] > 3000
    assert m["hit_rate_oracle"] > m["hit_rate_best_hour"] + 0.2  # the planted signal is there
    assert m["share_of_oracle_gain"] >= 0.5
    assert m["gain_ci95"][0] > 0
    assert m["by_planted_hour"]["planted hour"]["share_of_oracle_gain"] >= 0.5
    naive = tg.evaluate_send_hours(events, AS_OF, truth=truth, discount_machine_opens=False)
    assert m["hit_rate_personal"] > naive.metrics["hit_rate_personal"] + 0.01


@pytest.mark.slow
def test_send_time_on_the_demo_loses_nothing_without_a_preferred_hour(demo_email):
    """Customers the simulator gave no preferred hour (they open at hours of one shared
    profile; their oracle is the best single hour). Measured on the default demo: 1,218
    customers, 9,077 held-out interactions, personal 0.180 vs best hour 0.150, gain +0.030
    (95 % interval 0.020 to 0.039). Threshold: the interval's upper end is not below 0
    and the gain is above -0.01."""
    events, truth = demo_email
    result = tg.evaluate_send_hours(events, AS_OF, truth=truth)
    none = result.by_truth.set_index("group").loc["no planted hour"]
    assert none["customers"] > 500
    assert none["hit_rate_oracle"] == none["hit_rate_best_hour"]
    assert none["gain"] > -0.01 and none["gain_ci95_high"] >= 0


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
@pytest.mark.slow
def test_preview_renders_in_headless_chromium(chromium, tmp_path):
    """The preview page draws one card per sample customer with the masked merge field,
    executes nothing from the data and fetches nothing."""
    from playwright.sync_api import sync_playwright

    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    rows = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "audience": ["vip", "win_back", "vip"],
            "priority": [6, 3, 6],
            "message_type": ["vip_perks", "winback_offer", "vip_perks"],
            "control": [False, False, True],
            "send_hour": pd.array([19, 7, pd.NA], dtype="Int64"),
            "top_category": [hostile, "home", "garden"],
            "product_1_id": ["P1", "P2", None],
            "product_1_name": ["Kettle & Co", None, None],
            "product_1_reason": ["bought together with your teapot", None, None],
            "why": ["rfm segment: Champions", hostile, ""],
        }
    )
    path = tmp_path / "preview.html"
    path.write_text(tg.render_preview(rows, as_of=AS_OF, n=3), encoding="utf-8")
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update"],
        )  # fmt: skip
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        cards = page.locator(".card")
        assert cards.count() == 3
        assert all(cards.nth(i).is_visible() for i in range(3))
        text = page.inner_text("body")
        assert text.count("Hi [first_name],") == 3
        assert "Kettle & Co (bought together with your teapot)" in text
        assert "control group: not sent" in text and "send at 19:00 UTC" in text
        assert hostile in text  # shown as text, not markup
        assert page.evaluate("window.__pwned === undefined")
        assert page.locator(".card img, .card script").count() == 0
        assert "c1" not in text and "c2" not in text
        browser.close()
    assert requests == [path.as_uri()]


# --------------------------------------------------------------------------- the stage notebook

_PLANTED_EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _addresses_in(path, known):
    """Known customer addresses found in a file (Parquet read as a table, else bytes)."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        text = frame.astype("str").to_csv(index=False).encode()
    else:
        text = path.read_bytes()
    found = {m.group().decode(errors="replace").lower() for m in _PLANTED_EMAIL.finditer(text)}
    return found & known


@pytest.mark.notebooks
@pytest.mark.slow
def test_targeting_notebook_through_the_runner(full_run, pipeline_project, small_demo_dir):
    """The stage in the shared pipeline run on the small demo: audiences applicable exactly
    when their model outputs exist for this source and date, sizes that agree with the
    exported files, keyed rows that reproduce with the salt, the send-time check against
    the planted hours, and no e-mail address anywhere in the run's files."""
    from workbench import catalog

    run = {s.name: s for s in full_run.stages}["targeting"]
    assert run.status == "ok", run.error
    summary = json.loads((full_run.output_dir / "targeting.json").read_text())
    assert summary["as_of"] == "2026-06-30"

    # an audience is applicable exactly when the outputs it needs were written for this run
    written = {
        name: catalog.location(pipeline_project, name).exists()
        for name in ("churn_scores", "clv", "uplift_scores")
    }
    needs = {
        "win_back": ["churn_scores"],
        "high_value_at_risk": ["churn_scores", "clv"],
        "persuadables": ["uplift_scores"],
        "vip": [],
        "re_engagement": [],
    }
    status = {a["audience"]: a for a in summary["audiences"]}
    for audience, outputs in needs.items():
        expected = "applicable" if all(written[o] for o in outputs) else "not applicable"
        assert status[audience]["status"] == expected, audience
    assert written["churn_scores"], "the churn stage ran before targeting in the full run"

    # sizes: matched >= after consent >= after cap = control + treatment, shares as stated
    for a in summary["audiences"]:
        assert a["matched"] >= a["after_consent"] >= a["after_cap"]
        assert a["after_cap"] == a["control"] + a["treatment"]
        assert a["control"] == round(a["control_share"] * a["after_cap"])
    assert summary["overlaps"]["customers_in_several_after_cap"] == 0

    # the export: outside reports/, one CSV and Parquet per applicable audience, as listed
    folder = pipeline_project.exports_dir / "2026-06-30"
    assert summary["export"]["folder"] == str(folder)
    assert pipeline_project.reports_dir not in folder.parents
    manifest = json.loads((folder / tg.MANIFEST_FILE).read_text())
    applicable = sorted(a for a, s in status.items() if s["status"] == "applicable")
    assert sorted({f["audience"] for f in manifest["files"]}) == applicable
    assert not manifest["include_contact"] and "email" not in manifest["columns"]
    salt = tg.resolve_salt(salt_file=pipeline_project.targeting_salt_file)
    rows = pd.read_parquet(catalog.location(pipeline_project, "targeting"))
    for f in manifest["files"]:
        path = folder / f["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        part = pd.read_parquet(path) if f["format"] == "parquet" else pd.read_csv(path)
        assert len(part) == f["rows"] == status[f["audience"]]["after_cap"]
        assert int(part["control"].sum()) == status[f["audience"]]["control"]
        expected = [
            hmac.new(salt, str(c).encode(), hashlib.sha256).hexdigest() for c in part["customer_id"]
        ]
        assert part["key"].tolist() == expected
    assert len(rows) == sum(f["rows"] for f in manifest["files"] if f["format"] == "csv")

    # send time against the planted hours of the demo
    evaluation = summary["send_time"]["evaluation"]
    assert evaluation["share_of_oracle_gain"] >= 0.5
    assert evaluation["by_planted_hour"]["no planted hour"]["gain"] > -0.02

    # the preview was rendered, masked, beside the report
    preview = (full_run.output_dir / "targeting_preview.html").read_text()
    assert preview.count('class="card"') == 3 and "[first_name]" in preview

    # the headline shows the audience sizes
    items = {i["label"]: i["value"] for i in summary["headline"]["items"]}
    assert items["messages"] == summary["totals"]["messages"]
    for name in applicable:
        if name in items:
            assert items[name] == status[name]["after_cap"]

    # no customer's e-mail address in any file of the run: reports, exports, MLflow
    customers = pd.read_parquet(small_demo_dir / "customers.parquet", columns=["email"])
    known = set(customers["email"].dropna().astype("str").str.strip().str.lower())
    assert len(known) > 1000
    tracking = Path(pipeline_project.tracking_uri.removeprefix("sqlite:///")).parent
    roots = [pipeline_project.reports_dir, folder, tracking]
    leaks = {
        str(p): sorted(found)[:3]
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and (found := _addresses_in(p, known))
    }
    assert not leaks, leaks


@pytest.mark.parametrize(
    "module",
    ["capping", "consent", "content", "control", "export", "inputs", "params", "readout",
     "sendtime"],
)  # fmt: skip
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"workbench.targeting.{module}"))
    assert result.attempted > 0 and result.failed == 0
