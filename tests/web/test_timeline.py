"""The resource timeline's SVG: well-formed, truthful, small at gigafactory scale, and anonymous.

The pure functions of allocation/web/timeline.py are tested on their own;
the scale test builds a 40,000-chip resource with 5,000 bookings of 50
tenants over 30 days in the database and draws it through the view's
``timeline_chart``, as the page does.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from allocation.models import Booking, BookingKind, BookingStatus, ChipType, Inventory, MaintenanceWindow
from allocation.web import timeline
from allocation.web.bookings import timeline_chart
from tests.factories import TenantFactory

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2027, 1, 1, tzinfo=UTC)
SIZE_BOUND = 200_000


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


# --- pure functions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (950, "950"),
        (1000, "1k"),
        (2500, "2.5k"),
        (10_000, "10k"),
        (40_000, "40k"),
        (100_000, "100k"),
        (125_000, "125k"),
        (1_200_000, "1.2M"),
    ],
)
def test_short_count(value, text):
    assert timeline.short_count(value) == text


@pytest.mark.parametrize(("span", "step"), [(1, 1), (90, 20), (1000, 200), (40_000, 10_000), (104_000, 20_000)])
def test_nice_step(span, step):
    assert timeline.nice_step(span) == step


def test_hourly_layers_sum_bookings_per_hour_and_clip_to_the_range():
    spans = [
        timeline.Span(START - timedelta(hours=2), START + timedelta(hours=2), 5, "own"),  # starts before the range
        timeline.Span(START + timedelta(hours=1), START + timedelta(hours=3), 7, "startup"),
        timeline.Span(START + timedelta(hours=3), START + timedelta(hours=9), 11, "startup"),  # runs past it
        timeline.Span(START, START + timedelta(hours=1), 13, "unknown"),  # not a layer asked for
    ]

    layers = timeline.hourly_layers(
        spans, start=START, hours=5, order=[("own", "Yours"), ("startup", "Startups"), ("sme", "SMEs")]
    )

    assert [(layer.key, layer.values) for layer in layers] == [
        ("own", [5, 5, 0, 0, 0]),
        ("startup", [0, 7, 7, 11, 11]),
    ]  # the empty SME layer is left out


def test_strip_bars_show_the_fewest_free_chips_of_each_bucket():
    free = list(range(100, 0, -1))

    assert [b.free for b in timeline.strip_bars(free[:3], start=START)] == [100, 99, 98]
    bars = timeline.strip_bars(free, start=START, max_bars=10)
    assert len(bars) == 10 and bars[0].free == 91 and bars[0].hours == 10
    assert bars[1].start == START + timedelta(hours=10)


def small_chart(**overrides: Any) -> timeline.Chart:
    hours = 48
    fields = dict(
        title="Bavaria <AI> & friends",
        start=START,
        hours=hours,
        in_service=1000,
        capacity=[1000] * 20 + [600] * 8 + [1000] * 20,
        layers=[
            timeline.Layer("own", "Your bookings", [100] * hours),
            timeline.Layer("startup", "Others · Startup", [300] * 24 + [0] * 24),
        ],
        maintenance=[
            timeline.Window(START + timedelta(hours=20), START + timedelta(hours=28), 400, "cooling & <pumps>")
        ],
        now=START + timedelta(hours=30),
    )
    fields.update(overrides)
    return timeline.Chart(**fields)


def test_the_svg_is_well_formed_and_draws_capacity_load_maintenance_and_axes():
    svg = timeline.render_timeline_svg(small_chart())

    root = parse(svg)
    assert root.find(f"{SVG}title").text == "Bavaria <AI> & friends"
    paths = root.findall(f".//{SVG}path")
    titles = {p.find(f"{SVG}title").text for p in paths}
    assert {"Capacity", "Maintenance", "Your bookings", "Others · Startup"} <= titles
    own = [p for p in paths if p.get("class") == "tl-own"]
    assert len(own) == 1  # the viewer's own bookings, highlighted
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "1k" in texts and "0" in texts  # chips on the y axis
    assert "2 Jan" in texts  # days on the x axis
    assert "Now" in texts
    tips = [t.text for t in root.iter(f"{SVG}title")]
    assert "Maintenance: 400 chips (cooling & <pumps>)" in tips


def test_the_capacity_line_follows_maintenance():
    root = parse(timeline.render_timeline_svg(small_chart()))
    capacity = next(p for p in root.iter(f"{SVG}path") if p.get("class") == "tl-cap")

    # y is in thousandths of the axis top (1,200 chips here): 1,000 chips -> 833, 600 chips -> 500.
    assert capacity.get("d") == "M0,833H20V500H28V833H48"


def test_long_spans_are_drawn_in_buckets_of_hours():
    hours = 24 * 92
    chart = small_chart(
        hours=hours,
        capacity=[1000] * hours,
        layers=[timeline.Layer("own", "Your bookings", [i % 500 for i in range(hours)])],
        maintenance=[],
        now=None,
    )

    root = parse(timeline.render_timeline_svg(chart))

    capacity = next(p for p in root.iter(f"{SVG}path") if p.get("class") == "tl-cap")
    assert capacity.get("d").endswith(f"H{-(-hours // 3)}")  # 3 hours a column
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "8 Jan" in labels and "2 Jan" not in labels  # a label a week when 92 days are shown


# --- at scale, from the database ------------------------------------------------------


@pytest.fixture
def crowded(catalogue: Any, aurora: Any, alice: Any) -> dict[str, Any]:
    """A 40,000-chip resource with 5,000 bookings of 50 tenants (and Aurora) over 30 days."""
    rng = random.Random(5)
    inventory = Inventory.objects.create(
        gigafactory=catalogue.muc,
        chip_type=ChipType.objects.create(
            vendor="AMD",
            model="MI355X",
            slug="mi355x",
            memory_gb=288,
            peak_bf16_tflops=2500,
            tdp_watts=1400,
            throughput=2.2,
        ),
        chips_installed=42_000,
        chips_in_service=40_000,
    )
    kinds = ["startup", "sme", "researcher", "large_enterprise", "public_body"]
    tenants = [
        TenantFactory(
            name=f"Secret Tenant {i:02d}", slug=f"secret-{i:02d}", kind=kinds[i % 5], pool=catalogue.public_pool
        )
        for i in range(50)
    ]
    bookings = []
    for i in range(5000):
        tenant = aurora if i % 100 == 0 else tenants[i % 50]
        start = START + timedelta(hours=rng.randrange(0, 30 * 24 - 1))
        hours = rng.choice([1, 2, 4, 8, 12, 24, 48, 96])
        bookings.append(
            Booking(
                tenant=tenant,
                created_by=alice,
                kind=BookingKind.FIXED,
                status=rng.choice([BookingStatus.CONFIRMED, BookingStatus.ACTIVE, BookingStatus.COMPLETED]),
                chips=rng.choice([8, 16, 64, 256, 512]),
                hours=hours,
                inventory=inventory,
                starts_at=start,
                ends_at=start + timedelta(hours=hours),
            )
        )
    Booking.objects.bulk_create(bookings, batch_size=1000)
    MaintenanceWindow.objects.create(
        inventory=inventory,
        chips=6000,
        starts_at=START + timedelta(days=10),
        ends_at=START + timedelta(days=12),
        reason="Liquid cooling loop B",
    )
    return {"inventory": inventory, "tenants": tenants}


@pytest.mark.django_db
def test_a_crowded_resource_draws_small_truthful_and_anonymous(crowded, aurora):
    chart, own = timeline_chart(inventory=crowded["inventory"], start=START, days=30, own_tenant_ids={aurora.pk})

    svg = timeline.render_timeline_svg(chart)

    assert len(svg.encode()) < SIZE_BOUND, len(svg.encode())
    root = parse(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "40k" in texts  # the fleet's size on the chip axis
    capacity = next(p for p in root.iter(f"{SVG}path") if p.get("class") == "tl-cap")
    assert capacity.find(f"{SVG}title").text == "Capacity"
    assert "H240V" in capacity.get("d")  # capacity drops when maintenance starts on day 10
    for tenant in crowded["tenants"]:
        assert tenant.name not in svg and tenant.slug not in svg
    assert "Aurora" not in svg
    assert [p for p in root.iter(f"{SVG}path") if p.get("class") == "tl-own"]
    # The stacked total matches the bookings in one hour (hour 100 of the range).
    moment = START + timedelta(hours=100)
    booked = sum(
        b.chips
        for b in Booking.objects.filter(inventory=crowded["inventory"], starts_at__lte=moment, ends_at__gt=moment)
    )
    assert sum(layer.values[100] for layer in chart.layers) == booked
    assert own and {b.tenant_id for b in own} == {aurora.pk}


@pytest.mark.django_db
def test_the_page_never_names_other_tenants(client, crowded, mallory):
    client.force_login(mallory)

    response = client.get(reverse("resource-timeline", args=["muc", "mi355x"]), {"start": "2027-01-01", "days": "30"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Secret Tenant" not in html and "Aurora" not in html
    svg = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    parse(svg)
    assert len(svg.encode()) < SIZE_BOUND


@pytest.mark.django_db
def test_the_page_lists_the_first_of_the_viewers_own_bookings(client, crowded, alice):
    client.force_login(alice)

    response = client.get(reverse("resource-timeline", args=["muc", "mi355x"]), {"start": "2027-01-01", "days": "30"})

    assert len(response.context["own"]) == 12
    assert "The first 12 are listed;" in response.content.decode()
    svg = response.context["svg"]
    rug = [r for r in parse(svg).iter(f"{SVG}rect") if r.get("class") == "tl-own" and r.get("height") == "4"]
    assert rug  # alice's bookings marked under the plot
