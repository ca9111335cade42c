"""The fixed part of the demo: chip types, sites, partners.

Figures are public ballpark numbers (vendor data sheets; dense BF16). The
four gigafactories are illustrative EU sites of about 100,000 chips each;
the seven AI factories are those the EuroHPC JU selected in December 2024.
Throughput is training speed relative to one H100, the spec's normalization.
"""

from __future__ import annotations

# slug: (vendor, model, generation, memory GB, peak BF16 TFLOPS, TDP W, throughput)
CHIP_TYPES: dict[str, tuple[str, str, str, int, float, int, float]] = {
    "h100": ("NVIDIA", "H100", "Hopper", 80, 989.0, 700, 1.0),
    "h200": ("NVIDIA", "H200", "Hopper", 141, 989.0, 700, 1.3),
    "gh200": ("NVIDIA", "GH200", "Grace Hopper", 96, 989.0, 900, 1.2),
    "b200": ("NVIDIA", "B200", "Blackwell", 192, 2250.0, 1000, 2.5),
    "gb300": ("NVIDIA", "GB300", "Blackwell Ultra", 288, 2500.0, 1400, 3.0),
    "mi250x": ("AMD", "MI250X", "CDNA 2", 128, 383.0, 560, 0.4),
    "mi300a": ("AMD", "MI300A", "CDNA 3", 128, 981.0, 550, 0.9),
    "mi355x": ("AMD", "MI355X", "CDNA 4", 288, 2300.0, 1400, 2.3),
}

# slug: (name, country, city, kind, status, timezone, {chip: installed})
SITES: dict[str, tuple[str, str, str, str, str, str, dict[str, int]]] = {
    "muc": (
        "Bavaria AI Gigafactory",
        "DE",
        "Munich",
        "gigafactory",
        "operational",
        "Europe/Berlin",
        {"b200": 40_000, "gb300": 40_000, "h200": 20_000},
    ),
    "par": (
        "Paris-Saclay AI Gigafactory",
        "FR",
        "Saclay",
        "gigafactory",
        "operational",
        "Europe/Paris",
        {"b200": 50_000, "mi355x": 30_000, "gb300": 20_000},
    ),
    "sin": (
        "Atlantic AI Gigafactory",
        "PT",
        "Sines",
        "gigafactory",
        "building",
        "Europe/Lisbon",
        {"gb300": 60_000, "b200": 40_000},
    ),
    "waw": (
        "Mazovia AI Gigafactory",
        "PL",
        "Warsaw",
        "gigafactory",
        "operational",
        "Europe/Warsaw",
        {"b200": 50_000, "h200": 30_000, "mi355x": 20_000},
    ),
    "kaj": (
        "LUMI AI Factory",
        "FI",
        "Kajaani",
        "factory",
        "operational",
        "Europe/Helsinki",
        {"mi250x": 8_000, "mi300a": 2_000},
    ),
    "stu": ("HammerHAI", "DE", "Stuttgart", "factory", "operational", "Europe/Berlin", {"h100": 3_000, "gh200": 1_000}),
    "ath": ("Pharos AI Factory", "GR", "Athens", "factory", "building", "Europe/Athens", {"h100": 1_200, "h200": 800}),
    "bol": (
        "IT4LIA AI Factory",
        "IT",
        "Bologna",
        "factory",
        "operational",
        "Europe/Rome",
        {"h100": 4_000, "b200": 2_000},
    ),
    "lux": (
        "L-AI Factory",
        "LU",
        "Bissen",
        "factory",
        "operational",
        "Europe/Luxembourg",
        {"h100": 1_500, "h200": 1_000},
    ),
    "bcn": (
        "BSC AI Factory",
        "ES",
        "Barcelona",
        "factory",
        "operational",
        "Europe/Madrid",
        {"h100": 4_500, "b200": 2_500},
    ),
    "lin": (
        "MIMER AI Factory",
        "SE",
        "Linköping",
        "factory",
        "operational",
        "Europe/Stockholm",
        {"h200": 2_000, "gh200": 1_000},
    ),
}

# slug: (name, kind, pool slug or None for the public pool, {tranche: EUR})
PARTNERS: dict[str, tuple[str, str, str | None, dict[str, int]]] = {
    "digital-europe": (
        "Digital Europe Programme",
        "eu_programme",
        None,
        {"senior": 1_200_000_000, "mezzanine": 300_000_000},
    ),
    "horizon-europe": ("Horizon Europe", "eu_programme", None, {"senior": 900_000_000, "equity": 100_000_000}),
    "investeu": ("InvestEU", "eu_programme", None, {"senior": 2_000_000_000, "mezzanine": 1_000_000_000}),
    "de-bmbf": ("Germany (Federal Ministry of Research)", "member_state", None, {"senior": 600_000_000}),
    "fr-sgpi": ("France (France 2030)", "member_state", None, {"senior": 500_000_000}),
    "aurora-cloud": ("Aurora Cloud SE", "company", "aurora-cloud", {"mezzanine": 900_000_000, "equity": 1_100_000_000}),
    "rhein-capital": (
        "Rhein Capital Partners",
        "investor",
        "rhein-capital",
        {"senior": 1_500_000_000, "equity": 500_000_000},
    ),
    "baltic-infra": ("Baltic Infrastructure Fund", "investor", "baltic-infra", {"senior": 1_000_000_000}),
    "lusitania-telecom": (
        "Lusitania Telecom",
        "company",
        "lusitania-telecom",
        {"mezzanine": 400_000_000, "equity": 300_000_000},
    ),
    "nordwind-energy": ("Nordwind Energy", "company", "nordwind-energy", {"equity": 800_000_000}),
    "alpine-semis": (
        "Alpine Semiconductors",
        "company",
        "alpine-semis",
        {"mezzanine": 600_000_000, "equity": 400_000_000},
    ),
    "meridian-re": ("Meridian Re", "investor", "meridian-re", {"senior": 1_200_000_000}),
    "helix-bio": ("Helix Biosciences", "company", "helix-bio", {"equity": 350_000_000}),
}

COUNTRIES = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]

NAME_PARTS = [
    "Aurora",
    "Boreal",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Helios",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orbit",
    "Prism",
    "Quartz",
    "Rhine",
    "Sable",
    "Tessera",
    "Umbra",
    "Vega",
    "Willow",
    "Xylem",
    "Zephyr",
]
KIND_SUFFIX = {
    "startup": ["AI", "Labs", "Robotics", "Health AI", "Climate AI"],
    "sme": ["Analytics GmbH", "Systems SRL", "Engineering BV", "Data SA", "Vision Oy"],
    "researcher": ["University Lab", "Institute", "Research Centre", "NLP Group", "Vision Group"],
    "large_enterprise": ["Group", "Industries", "Motors", "Pharma", "Telecom"],
    "public_body": ["Statistics Office", "Meteorological Service", "Health Agency", "Space Agency", "Energy Regulator"],
}
# Base tenants of each kind per unit of --scale (1,000 in all).
KIND_COUNTS = {"startup": 200, "sme": 200, "researcher": 200, "large_enterprise": 200, "public_body": 200}

REQUEST_TOPICS = [
    "Pretraining a multilingual foundation model",
    "Protein structure prediction",
    "Weather and climate emulator",
    "Fine-tuning a legal-domain LLM",
    "Autonomous driving perception",
    "Materials discovery with graph networks",
    "Speech recognition for EU languages",
    "Medical imaging segmentation",
    "Code generation model",
    "Energy grid forecasting",
]
