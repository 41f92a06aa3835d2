"""A synthetic but believable online shop, for demos, tutorials and tests.

Tail Studio is about the long tail, so the demo data must have one: item popularity is Zipf-like
(a few hundred best sellers take most purchases) while thousands of niche items are bought by a
handful of users each. The data also carries *learnable* signal, so that a personalised model
clearly beats popularity and a tail-aware recommender finds relevant niche items:

* every user has a Dirichlet preference over ~12 top categories, a favourite style and
  subcategory, and a latent taste vector (dimension 16);
* every item has a latent vector built from its category, subcategory, brand and style, so the
  catalog text (which names those) is informative for content-based cold start;
* a user's purchases are drawn without replacement (Gumbel-top-k) from
  ``softmax(alpha_u * log(popularity) + beta * <user, item> + gamma * log(category pref))``;
  ~15 % of users are "niche explorers" with a weak pull towards best sellers.

A few per cent of the catalog are freshly launched items without any interaction (cold items),
timestamps follow weekly and seasonal rhythms (January sales, Valentine's Day, garden season,
Black Friday, Christmas) and consumables are occasionally bought again.

Everything is derived from ``np.random.default_rng(seed)``, so a seed gives identical frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DemoShop", "generate_demo_shop"]

log = logging.getLogger(__name__)

# name, share of catalog, median price, materials/colours, variants, uses, {subcategory: nouns}
_CATEGORIES: list[tuple[str, float, float, str, str, str, dict[str, str]]] = [
    ("Home & Kitchen", 0.14, 24.0, "Oak|Walnut|Stoneware|Enamel|Linen|Bamboo|Cast Iron|Copper",
     "Large|Small|Set of 2|Set of 4|30 cm", "everyday cooking|hosting friends|slow breakfasts",
     {"Cookware": "Frying Pan|Saucepan|Casserole Dish|Wok|Roasting Tin",
      "Tableware": "Serving Board|Dinner Plate|Salad Bowl|Mug Set|Carafe",
      "Storage": "Storage Jar|Bread Bin|Spice Rack|Lunch Box", "Textiles": "Tea Towel|Cushion Cover|Throw|Apron"}),
    ("Fashion", 0.12, 35.0, "Navy|Charcoal|Olive|Cream|Merino|Organic Cotton|Corduroy|Mustard",
     "S|M|L|XL|Relaxed Fit", "the daily commute|weekends away|layering in autumn",
     {"Tops": "T-Shirt|Linen Shirt|Knit Jumper|Hoodie", "Bottoms": "Chinos|Denim Jeans|Midi Skirt|Joggers",
      "Outerwear": "Rain Jacket|Wool Coat|Gilet", "Accessories": "Scarf|Beanie|Leather Belt|Tote Bag"}),
    ("Toys & Games", 0.08, 20.0, "Wooden|Rainbow|Pastel|Felt|Beechwood|Recycled",
     "Ages 3+|Ages 6+|Mini|Deluxe|Travel Size", "rainy afternoons|family game night|birthday gifts",
     {"Building": "Block Set|Marble Run|Construction Kit", "Puzzles & Games": "Jigsaw Puzzle|Board Game|Card Game",
      "Plush": "Plush Bear|Plush Fox|Hand Puppet", "Outdoor Play": "Kite|Bubble Wand|Balance Bike"}),
    ("Garden & Outdoor", 0.08, 28.0, "Terracotta|Galvanised|Teak|Zinc|Rattan|Sage|Slate",
     "Small|Medium|Large|Set of 3|Twin Pack", "balcony gardening|summer evenings outdoors|spring planting",
     {"Planters": "Planter|Hanging Basket|Window Box", "Tools": "Trowel|Pruning Shears|Watering Can|Hose Reel",
      "Furniture": "Bistro Set|Deck Chair|Parasol", "Lighting": "Solar Lantern|String Lights|Torch Stake"}),
    ("Beauty & Personal Care", 0.09, 16.0, "Rosehip|Lavender|Aloe|Shea|Argan|Oat|Vitamin C|Seaweed",
     "30 ml|50 ml|100 ml|Travel Size|Refill", "a calm evening routine|sensitive skin|self-care Sundays",
     {"Skincare": "Face Serum|Night Cream|Clay Mask|Cleansing Balm", "Haircare": "Shampoo Bar|Hair Oil|Conditioner",
      "Bath": "Bath Salts|Body Wash|Body Scrub", "Fragrance": "Room Mist|Solid Perfume|Eau de Parfum"}),
    ("Electronics Accessories", 0.09, 19.0, "Braided|Matte Black|Silicone|Aluminium|Vegan Leather|Graphite",
     "1 m|2 m|Twin Pack|Pro|Compact", "working from home|travel days|a tidy desk",
     {"Charging": "USB-C Cable|Wall Charger|Power Bank|Wireless Pad", "Audio": "Earbuds|Headphone Stand|Speaker",
      "Cases": "Phone Case|Laptop Sleeve|Tablet Stand", "Desk Tech": "Cable Organiser|Monitor Riser|Webcam Cover"}),
    ("Stationery & Office", 0.07, 9.0, "Kraft|Linen-Bound|Recycled|Brass|Cork|Pastel",
     "A5|A4|Pocket|Pack of 3|Refill", "journaling|planning the week|writing letters",
     {"Notebooks": "Dotted Notebook|Weekly Planner|Sketchbook", "Writing": "Fountain Pen|Gel Pen Set|Brush Markers",
      "Desk": "Desk Organiser|Letter Tray|Pen Pot", "Paper": "Greeting Cards|Washi Tape|Envelope Set"}),
    ("Sports & Fitness", 0.08, 22.0, "Cork|Natural Rubber|Neoprene|Steel|Hi-Vis|Insulated",
     "Light|Medium|Heavy|750 ml|One Size", "home workouts|early morning runs|weekend rides",
     {"Yoga": "Yoga Mat|Yoga Block|Yoga Strap", "Training": "Kettlebell|Resistance Bands|Skipping Rope",
      "Running": "Running Belt|Water Bottle|Reflective Vest", "Cycling": "Bike Light|Saddle Bag|Cycling Gloves"}),
    ("Pet Supplies", 0.07, 14.0, "Hemp|Sherpa|Rope|Seagrass|Waxed Canvas|Natural",
     "Small|Medium|Large|Twin Pack|Refill", "long walks|lazy afternoons|a happy, healthy pet",
     {"Dogs": "Dog Lead|Chew Toy|Dog Bed|Treat Pouch", "Cats": "Cat Scratcher|Feather Wand|Cat Bed",
      "Small Pets": "Hay Rack|Hideout|Pet Water Bottle", "Grooming": "Grooming Brush|Pet Shampoo|Nail Clipper"}),
    ("Books", 0.07, 12.0, "Hardback|Paperback|Illustrated|Pocket|Collector's",
     "Gift Edition|2nd Edition|Signed Copy|Large Print|Boxed", "a quiet evening|curious minds|the long commute",
     {"Fiction": "Mystery Novel|Fantasy Novel|Short Stories", "Cookbooks": "Cookbook|Baking Book|Preserving Guide",
      "Kids": "Picture Book|Activity Book|Bedtime Stories", "Non-fiction": "Field Guide|Travel Guide|Craft Manual"}),
    ("Food & Drink", 0.06, 8.0, "Organic|Smoked|Single-Origin|Wildflower|Spiced|Citrus|Salted Caramel",
     "250 g|500 g|1 kg|Gift Tin|Multipack", "the morning cup|a well-stocked pantry|sharing with friends",
     {"Coffee & Tea": "Coffee Beans|Loose Leaf Tea|Hot Chocolate", "Pantry": "Olive Oil|Chilli Sauce|Honey|Pasta",
      "Snacks": "Granola|Dark Chocolate|Trail Mix", "Drinks": "Sparkling Juice|Kombucha|Cordial"}),
    ("Jewellery & Watches", 0.05, 45.0, "Sterling Silver|Gold-Plated|Rose Gold|Pearl|Opal|Enamel",
     "18 in|Adjustable|Petite|Gift Boxed|Pair", "everyday wear|special occasions|thoughtful gifts",
     {"Necklaces": "Pendant Necklace|Chain Necklace|Locket", "Earrings": "Hoop Earrings|Stud Earrings|Drop Earrings",
      "Rings": "Stacking Ring|Signet Ring|Band Ring", "Watches": "Minimal Watch|Field Watch|Bangle Watch"}),
]
# Five invented brands per category, in the order of _CATEGORIES.
_BRANDS = [
    "Brindlewood", "Lumen & Loam", "Kettleby", "Marrowby Home", "Hearthwick", "Tidewick", "Velvetine",
    "Northmarch", "Ravenmere", "Ashgrove Atelier", "Tumbleroo", "Copperkin", "Pebblestone Play",
    "Wrenhaven Toys", "Glimmerfold", "Thistledown", "Larchmoor", "Foxglove Lane", "Bramblecote",
    "Saltmarsh Supply", "Petalwick", "Honeyridge", "Clovercrest", "Amberwick", "Mossgate", "Voltmere",
    "Quaystone", "Cindervale", "Ferrowick", "Nimbus Gear", "Quillmere", "Inkwell Isle", "Folio & Fern",
    "Pagebound", "Kraftley", "Peakwell", "Strideline", "Sprocket & Stone", "Driftmoor", "Kestrelby",
    "Pawsbury", "Whiskerwell", "Holloway Hound", "Nettlebrook", "Burrowby", "Lindenbay Press",
    "Orchard Vale Books", "Duskfield", "Mapleforge", "Harbourlight", "Crumbwell", "Larderly",
    "Brewhaven", "Oakendale Pantry", "Juniper Row", "Gildenrose", "Silverbirch Studio",
    "Starling & Sage", "Moonwell", "Emberly",
]
_STYLES = [("Nordic", "clean Scandinavian lines"), ("Rustic", "a warm farmhouse feel"),
           ("Vintage", "a nostalgic, well-loved look"), ("Minimalist", "pared-back, quiet design"),
           ("Boho", "relaxed, free-spirited colour"), ("Coastal", "breezy seaside tones"),
           ("Urban", "a sharp city edge"), ("Classic", "timeless good looks"),
           ("Artisan", "small-batch craftsmanship"), ("Retro", "playful mid-century charm"),
           ("Botanical", "leafy, nature-inspired motifs"), ("Alpine", "cosy mountain-cabin character")]
_S1 = ["{A} {style} {noun} in {material}, made for {use}.", "This {material} {noun} brings {phrase} to {use}.",
       "Our {style} take on the classic {noun}, in {material}.", "{A} {noun} with {phrase}, crafted in {material}."]
_S2 = ["Built to last and easy to care for.", "Perfect for {use2}.", "", "Thoughtfully made and a lovely gift.",
       "A quiet favourite among {style} fans."]
_S3 = ["", "", "Available as {variant}.", "Part of the {brand} {sub} range.", "Designed by {brand}."]
_COUNTRIES = {"DE": 0.24, "FR": 0.16, "GB": 0.15, "NL": 0.10, "ES": 0.09, "IT": 0.09, "SE": 0.05,
              "PL": 0.05, "AT": 0.04, "BE": 0.03}
# Seasonal bumps (day of year 0..364, width in days, amplitude) per category index; -1 = whole shop.
_BUMPS = {-1: [(5, 6, 0.3), (331, 3, 1.2), (334, 2, 0.8), (348, 10, 0.7)], 2: [(345, 14, 1.5)],
          3: [(130, 40, 1.2)], 7: [(10, 14, 0.9)], 9: [(350, 12, 0.6)], 11: [(44, 4, 1.5), (350, 10, 0.8)]}
_WEEKDAY = np.array([1.0, 0.95, 0.95, 1.0, 0.9, 1.05, 1.3])  # Mon..Sun
_HOURS = np.array([2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 10, 12, 11, 9, 9, 9, 10, 12, 14, 15, 13, 9, 5], float)
_CONSUMABLE = {4, 6, 8, 10}  # beauty, stationery, pets, food: sometimes bought again
_DIM = 16
_ZIPF, _BETA, _GAMMA = 1.8, 7.0, 1.5  # popularity exponent, taste and category-preference weights
_START = np.datetime64("2025-01-01T00:00:00", "s")
_N_DAYS = 365


@dataclass(frozen=True)
class DemoShop:
    """The three tables of the demo shop, already in Tail Studio's canonical schema."""

    interactions: pd.DataFrame
    catalog: pd.DataFrame
    users: pd.DataFrame


def _lc(text: str) -> str:
    """Lower-case words for use inside a sentence, keeping acronyms such as ``USB-C``."""
    return " ".join(w if any(c.isupper() for c in w[1:]) else w.lower() for w in text.split())


def _catalog(
    rng: np.random.Generator, n_items: int, cold: np.ndarray
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Draw category/subcategory/brand/style per item and write titles, descriptions and prices."""
    shares = np.array([c[1] for c in _CATEGORIES])
    cat = rng.choice(len(_CATEGORIES), size=n_items, p=shares / shares.sum())
    subs = [(k, s, n.split("|")) for k, c in enumerate(_CATEGORIES) for s, n in c[6].items()]
    n_sub = np.bincount([k for k, _, _ in subs])
    sub_off = np.concatenate([[0], np.cumsum(n_sub)[:-1]])
    sub = sub_off[cat] + (rng.random(n_items) * n_sub[cat]).astype(int)
    brand = cat * 5 + rng.choice(5, size=n_items, p=[0.34, 0.25, 0.18, 0.13, 0.10])
    style = rng.integers(0, len(_STYLES), n_items)
    picks = rng.random((n_items, 7))
    brand_premium = np.exp(rng.normal(0.0, 0.25, len(_BRANDS)))
    medians = np.array([c[2] for c in _CATEGORIES])
    raw = medians[cat] * brand_premium[brand] * np.exp(rng.normal(0.0, 0.55, n_items))
    frac = np.where(rng.random(n_items) < 0.7, 0.99, 0.49)
    price = np.where(raw > 100, np.round(raw / 5) * 5 - 0.01, np.floor(raw) + frac)
    titles: list[str] = []
    descs: list[str] = []
    seen: set[str] = set()
    for i in range(n_items):  # one pass over the catalog (not over interactions): cheap
        c, (_, sub_name, nouns) = _CATEGORIES[cat[i]], subs[sub[i]]
        mats, variants, uses = (c[j].split("|") for j in (3, 4, 5))
        pick = [int(p * n) for p, n in zip(picks[i], (len(nouns), len(mats), len(variants), len(uses),
                                                          len(_S1), len(_S2), len(_S3)), strict=False)]
        sty, phrase = _STYLES[style[i]]
        noun, mat, var = nouns[pick[0]], mats[pick[1]], variants[pick[2]]
        title = f"{sty} {mat} {noun} — {var}"
        titles.append(title if title not in seen else f"{sty} {mat} {noun} by {_BRANDS[brand[i]]} — {var}")
        seen.add(title)
        words = {"A": "An" if sty[0] in "AEIOU" else "A", "style": sty, "noun": _lc(noun),
                 "material": _lc(mat), "use": uses[pick[3]], "use2": uses[(pick[3] + 1) % len(uses)],
                 "phrase": phrase, "brand": _BRANDS[brand[i]], "variant": var, "sub": _lc(sub_name)}
        text = " ".join(t.format(**words) for t in (_S1[pick[4]], _S2[pick[5]], _S3[pick[6]]) if t)
        descs.append(text[0].upper() + text[1:])
    brands = np.array(_BRANDS, dtype=object)[brand]
    old_days = rng.integers(0, 6 * 365, n_items)
    new_days = rng.integers(348, 365, n_items)  # launched in the last fortnight: no sales yet
    launched = np.datetime64("2019-01-01", "D") + old_days.astype("timedelta64[D]")
    launched = np.where(cold, _START.astype("datetime64[D]") + new_days.astype("timedelta64[D]"), launched)
    catalog = pd.DataFrame({
        "item_id": [f"SKU-{i:05d}" for i in range(n_items)], "title": titles,
        "description": descs, "category": [_CATEGORIES[k][0] for k in cat],
        "subcategory": [subs[s][1] for s in sub], "brand": brands, "price": np.maximum(price, 0.99),
        "launched": pd.to_datetime(launched).astype("datetime64[ns]")})
    for col in ("item_id", "title", "description", "category", "subcategory", "brand"):
        catalog[col] = catalog[col].astype(str)
    return catalog, {"cat": cat, "sub": sub, "brand": brand, "style": style, "n_sub": len(subs)}


def _timestamps(rng: np.random.Generator, cat: np.ndarray) -> np.ndarray:
    """Purchase times: day from a per-category seasonal x weekday profile, hour from a daily curve."""
    d = np.arange(_N_DAYS, dtype=float)
    base = (1 + 0.15 * np.cos(2 * np.pi * (d + 15) / _N_DAYS)) * _WEEKDAY[(d.astype(int) + 2) % 7]
    base *= np.where((d == 358) | (d == 359), 0.5, 1.0)  # quiet Christmas and Boxing Day
    weights = np.tile(base, (len(_CATEGORIES), 1))
    for k, bumps in _BUMPS.items():
        bump = 1 + sum(a * np.exp(-(((d - c) / w) ** 2)) for c, w, a in bumps)
        weights[slice(None) if k < 0 else k] *= bump
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    flat = (cdf + np.arange(len(_CATEGORIES))[:, None]).ravel()  # row k lives in [k, k+1]
    day = np.searchsorted(flat, cat + rng.random(cat.size), side="right") - cat * _N_DAYS
    day = np.clip(day, 0, _N_DAYS - 1)
    hour = rng.choice(24, size=cat.size, p=_HOURS / _HOURS.sum())
    secs = day * 86400 + hour * 3600 + rng.integers(0, 3600, cat.size)
    return _START + secs.astype("timedelta64[s]")


@dataclass(frozen=True)
class _Items:
    """Item side: unit latent vectors, log base popularity and the embeddings they come from."""

    emb: dict[str, np.ndarray]
    vec: np.ndarray
    log_pop: np.ndarray


@dataclass(frozen=True)
class _Users:
    """User side: category preference, niche-ness, pull towards best sellers, basket sizes."""

    pref: np.ndarray
    vec: np.ndarray
    niche: np.ndarray
    alpha: np.ndarray
    n_buy: np.ndarray


def _item_side(rng: np.random.Generator, n_items: int, meta: dict[str, Any]) -> _Items:
    """Latent vectors from structure, Zipf-like base popularity on a random order."""
    emb = {k: rng.normal(size=(n, _DIM)) for k, n in
           (("cat", len(_CATEGORIES)), ("sub", meta["n_sub"]), ("brand", len(_BRANDS)),
            ("style", len(_STYLES)))}
    item_vec = (0.7 * emb["cat"][meta["cat"]] + 0.9 * emb["sub"][meta["sub"]]
                + 0.5 * emb["brand"][meta["brand"]] + 0.9 * emb["style"][meta["style"]]
                + 0.5 * rng.normal(size=(n_items, _DIM)))
    item_vec /= np.linalg.norm(item_vec, axis=1, keepdims=True)
    rank = rng.permutation(n_items) + 1
    return _Items(emb, item_vec, -_ZIPF * np.log(rank + 5.0))


def _user_side(rng: np.random.Generator, n_users: int, emb: dict[str, np.ndarray],
               n_warm: int) -> _Users:
    """Category preference, favourite style and subcategory, niche-ness and activity."""
    n_cat = len(_CATEGORIES)
    shares = np.array([c[1] for c in _CATEGORIES])
    pref = rng.dirichlet(2.5 * shares / shares.sum(), size=n_users) * 0.97 + 0.03 / n_cat
    fav_style = rng.integers(0, len(_STYLES), n_users)
    top_cat = pref.argmax(axis=1)
    n_sub_cat = np.array([len(c[6]) for c in _CATEGORIES])
    sub_off = np.concatenate([[0], np.cumsum(n_sub_cat)[:-1]])
    fav_sub = sub_off[top_cat] + (rng.random(n_users) * n_sub_cat[top_cat]).astype(int)
    user_vec = (pref @ emb["cat"] * 0.6 + emb["style"][fav_style] + 0.8 * emb["sub"][fav_sub]
                + 0.6 * rng.normal(size=(n_users, _DIM)))
    user_vec /= np.linalg.norm(user_vec, axis=1, keepdims=True)
    niche = rng.random(n_users) < 0.15
    alpha = np.where(niche, 0.35, 1.0) * np.exp(rng.normal(0.0, 0.15, n_users))
    n_buy = np.clip(np.round(np.exp(rng.normal(np.log(15), 0.85, n_users))), 3, min(400, n_warm // 2))
    return _Users(pref, user_vec, niche, alpha, n_buy.astype(int))


def _first_purchases(rng: np.random.Generator, items: _Items, users: _Users, cat: np.ndarray,
                     warm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(user, item)`` index pairs: each user's basket drawn without replacement, then every
    unsold non-cold item given to the user it suits best (niche relevance)."""
    n_users, n_items = len(users.n_buy), len(items.vec)
    # Gumbel-top-k per user block: a draw without replacement from the softmax of the logits.
    log_pref = np.log(users.pref)
    users_out, items_out = [], []
    for start in range(0, n_users, 256):
        u = np.arange(start, min(start + 256, n_users))
        logits = (users.alpha[u, None] * items.log_pop[warm]
                  + _BETA * users.vec[u] @ items.vec[warm].T + _GAMMA * log_pref[u][:, cat[warm]])
        logits += rng.gumbel(size=logits.shape)
        k = int(users.n_buy[u].max())
        top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(logits, top, 1), axis=1), 1)
        keep = np.arange(k) < users.n_buy[u, None]
        users_out.append(np.broadcast_to(u[:, None], top.shape)[keep])
        items_out.append(warm[top[keep]])
    uid, iid = np.concatenate(users_out), np.concatenate(items_out)
    unsold = warm[np.bincount(iid, minlength=n_items)[warm] == 0]
    if unsold.size:
        fit = _BETA * users.vec @ items.vec[unsold].T + _GAMMA * log_pref[:, cat[unsold]]
        buyer = np.argmax(fit + rng.gumbel(size=fit.shape), axis=0)
        uid, iid = np.concatenate([uid, buyer]), np.concatenate([iid, unsold])
    return uid, iid


def _with_repeats(rng: np.random.Generator, uid: np.ndarray, iid: np.ndarray,
                  cat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps, repeat purchases and quantities: ``(user, item, timestamp, value)``.

    Consumables are sometimes bought again, weeks later (earlier if that would leave the year).
    """
    ts = _timestamps(rng, cat[iid])
    again = rng.random(iid.size) < np.where(np.isin(cat[iid], list(_CONSUMABLE)), 0.04, 0.005)
    n_again = int(again.sum())
    gap = (rng.integers(14, 90, n_again) * 86400 + rng.integers(0, 86400, n_again)).astype("timedelta64[s]")
    end = _START + np.timedelta64(_N_DAYS * 86400 - 1, "s")
    re_ts = np.where(ts[again] + gap <= end, ts[again] + gap, ts[again] - gap)
    uid, iid = np.concatenate([uid, uid[again]]), np.concatenate([iid, iid[again]])
    ts = np.concatenate([ts, re_ts])
    value = rng.choice(5, size=iid.size, p=[0.82, 0.11, 0.04, 0.02, 0.01]) + 1.0
    return uid, iid, ts, value


def _interaction_frame(uid: np.ndarray, iid: np.ndarray, ts: np.ndarray, value: np.ndarray,
                       user_ids: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
    """The interactions in time order (ties by user, then item), ids as strings."""
    order = np.lexsort((iid, uid, ts))
    interactions = pd.DataFrame({
        "user_id": user_ids[uid[order]],
        "item_id": item_ids[iid[order]],
        "timestamp": pd.to_datetime(ts[order]).astype("datetime64[ns]"),
        "value": value[order]})
    for col in ("user_id", "item_id"):
        interactions[col] = interactions[col].astype(str)
    return interactions


def _user_frame(rng: np.random.Generator, users: _Users, user_ids: np.ndarray) -> pd.DataFrame:
    """One row per user: a country and the segment the user was generated as."""
    countries = list(_COUNTRIES)
    weights = np.array(list(_COUNTRIES.values()))
    country = rng.choice(len(countries), size=len(user_ids), p=weights / weights.sum())
    n_buy = users.n_buy
    segment = np.select([users.niche, n_buy >= np.quantile(n_buy, 0.9), users.pref.max(axis=1) > 0.6],
                        ["niche explorer", "loyal regular", "category loyalist"], "mainstream browser")
    frame = pd.DataFrame({"user_id": user_ids,
                          "country": np.array(countries)[country], "segment_hint": segment})
    for col in frame.columns:
        frame[col] = frame[col].astype(str)
    return frame


def generate_demo_shop(seed: int = 0, n_items: int = 5000, n_users: int = 3000) -> DemoShop:
    """Generate a deterministic demo shop with a long tail and learnable personal tastes.

    ``n_items`` catalog items (about 4 % cold, i.e. without interactions) and ``n_users`` users with
    a log-normal number of purchases (at least 3, median about 15) spread over 2025. With the
    defaults this gives roughly 65k interactions in well under three seconds. The steps draw
    from one generator in a fixed order, so a seed gives identical frames.
    """
    t0 = time.perf_counter()
    if n_items < 50 or n_users < 10:
        raise ValueError("the demo shop needs at least 50 items and 10 users")
    rng = np.random.default_rng(seed)
    cold = np.zeros(n_items, dtype=bool)
    cold[rng.choice(n_items, size=max(1, round(0.04 * n_items)), replace=False)] = True
    catalog, meta = _catalog(rng, n_items, cold)
    items = _item_side(rng, n_items, meta)
    warm = np.flatnonzero(~cold)
    users = _user_side(rng, n_users, items.emb, warm.size)
    uid, iid = _first_purchases(rng, items, users, meta["cat"], warm)
    uid, iid, ts, value = _with_repeats(rng, uid, iid, meta["cat"])
    user_ids = np.array([f"U{i:05d}" for i in range(n_users)], dtype=object)
    interactions = _interaction_frame(uid, iid, ts, value, user_ids, catalog["item_id"].to_numpy())
    users_frame = _user_frame(rng, users, user_ids)
    log.info("demo shop (seed %d): %d interactions, %d items (%d cold), %d users in %.2fs",
             seed, len(interactions), n_items, int(cold.sum()), n_users, time.perf_counter() - t0)
    return DemoShop(interactions=interactions, catalog=catalog, users=users_frame)
