"""Service names matched fuzzily and semantically against whatever services the store has seen."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rca_fakes import SERVICES, generated_names

from rca_service.query.services import MiniLMEmbedder, ServiceMatcher, spelled_out

M = ServiceMatcher(SERVICES)


@pytest.mark.parametrize("text,expected", [
    ("why is the basket slow", "basketservice"),  # partial, generic suffix dropped
    ("baskets", "basketservice"),  # plural
    ("the basket service", "basketservice"),  # spacing
    ("BasketService latency", "basketservice"),  # case
    ("chekout errors", "checkout-svc"),  # typo
    ("checkout svc", "checkout-svc"),
    ("ledger", "ledger-db"),
    ("is the ledger db ok", "ledger-db"),
    ("notificaton worker", "notification-worker"),  # typo in a two-word name
    ("the notifications", "notification-worker"),
    ("billing", "billing-api"),
    ("catalog", "catalogservice"),
    ("shiping", "shippingservice"),
    ("store front", "storefront"),
])
def test_lexical_matches(text, expected):
    got = M.match(text)
    assert got is not None and got.service == expected, got


@pytest.mark.parametrize("text", ["why is it slow?", "what broke at 14:05?", "show incidents from the last hour",
                                  "has this happened before?", "what changed before the errors started?",
                                  "is everything ok", "cpu memory network latency errors"])
def test_no_false_positives_on_questions_without_a_service(text):
    assert M.match(text) is None


def test_exact_names_beat_near_ones():
    m = ServiceMatcher(["orders", "orders-db", "order-history"])
    assert m.match("orders is slow").service == "orders"
    assert m.match("orders-db is slow").service == "orders-db"
    assert m.resolve("ORDERS-DB").method == "exact"


@pytest.mark.parametrize("seed", range(5))
def test_generated_names_with_typos(seed):
    """Names the code has never seen: one character dropped from the spoken part still resolves."""
    names = generated_names(seed, n=6)
    m = ServiceMatcher(names)
    rng = random.Random(seed)
    for name in names:
        core = name.replace("service", "").split("-")[0]
        i = rng.randrange(1, len(core) - 1)
        typo = core[:i] + core[i + 1:]
        assert m.match(f"why is {typo} slow?").service == name, (typo, names)
        assert m.match(f"is {name} ok?").method == "exact"


def test_spelled_out_names():
    assert spelled_out("cartservice") == "cart service"
    assert spelled_out("ShippingService") == "shipping service"
    assert spelled_out("user-db") == "user db"


class BagOfWordsEmbedder:
    """A deterministic stand-in for MiniLM: unit vectors over a tiny synonym vocabulary."""

    GROUPS = [{"billing", "payment", "payments", "invoice", "money"}, {"basket", "cart", "trolley"},
              {"ledger", "accounts", "bookkeeping"}, {"notification", "email", "alerts", "mailer"}]

    def __call__(self, texts):
        out = np.zeros((len(texts), len(self.GROUPS) + 1))
        for i, t in enumerate(texts):
            for j, g in enumerate(self.GROUPS):
                out[i, j] = sum(w in g for w in t.lower().split())
            out[i, -1] = 0.3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_semantic_pass_runs_only_when_nothing_matches_lexically():
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return BagOfWordsEmbedder()(texts)

    m = ServiceMatcher(SERVICES, embedder=embed)
    assert m.match("why is the basket slow").method != "semantic"
    assert calls == []
    got = m.match("is the payments thing down")
    assert got.service == "billing-api" and got.method == "semantic" and got.text == "payments"
    assert m.match("the trolley").service == "basketservice"


def test_semantic_pass_refuses_weak_or_ambiguous_matches():
    m = ServiceMatcher(SERVICES, embedder=BagOfWordsEmbedder(), min_cosine=0.5)
    assert m.match("the weather is nice") is None


def test_semantic_matching_with_the_offline_minilm_model():
    """The real embedded model: words people use for a service that share no letters with its name."""
    m = ServiceMatcher(["cartservice", "paymentservice", "productcatalogservice", "emailservice", "currencyservice"],
                       embedder=MiniLMEmbedder.shared())
    assert m.match("the shopping basket").service == "cartservice"
    assert m.match("billing").service == "paymentservice"
    assert m.match("exchange rates").service == "currencyservice"
    assert m.match("what time is it") is None


# The two benchmark systems' naming styles (test data only; the package knows no names).
BOUTIQUE = ["frontend", "cartservice", "checkoutservice", "paymentservice", "emailservice", "currencyservice",
            "recommendationservice", "adservice", "productcatalogservice", "shippingservice", "redis-cart"]
SOCKSHOP = ["front-end", "carts", "carts-db", "catalogue", "orders", "payment", "shipping", "user", "user-db", "queue-master"]


@pytest.mark.parametrize("names,text,expected", [
    (BOUTIQUE, "why is the cart slow", "cartservice"),
    (BOUTIQUE, "is the catalog ok", "productcatalogservice"),
    (BOUTIQUE, "recommendations failing", "recommendationservice"),
    (BOUTIQUE, "the ad service", "adservice"),
    (BOUTIQUE, "front end latency", "frontend"),
    (BOUTIQUE, "redis", "redis-cart"),
    (SOCKSHOP, "why is the cart slow", "carts"),
    (SOCKSHOP, "carts db", "carts-db"),
    (SOCKSHOP, "is the catalog ok", "catalogue"),
    (SOCKSHOP, "the front-end", "front-end"),
    (SOCKSHOP, "queue master", "queue-master"),
    (SOCKSHOP, "user database", "user-db"),
])
def test_benchmark_naming_styles(names, text, expected):
    assert ServiceMatcher(names).match(text).service == expected
