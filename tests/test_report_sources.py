"""Report sources: header finding, column naming, numbers, dates, totals rows, logs, formats."""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.errors import IngestError
from funnelscope.store.bad_rows import BadRow as RejectedRow
from funnelscope.store.reports import (
    DIMENSION_SYNONYMS,
    MEASURE_SYNONYMS,
    ReportMapping,
    ReportSource,
    read_report,
)

SEARCH = ReportMapping(stages=("impressions", "clicks", "visits", "inquiries", "orders"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def days(source: ReportSource) -> list[str]:
    return [str(d) for d in source.dates]


def totals(source: ReportSource) -> dict[str, float]:
    return {key: float(values.sum()) for key, values in source.values.items()}


# --- a Google-Ads-like export -------------------------------------------------------------------

ADS = (
    "Keyword report\n"
    '"September 1, 2026 - November 22, 2026"\n'
    "Campaign,Ad group,Keyword,Day,Impr.,Clicks,CTR,Avg. CPC,Cost,Conversions,Cost / conv.\n"
    'Brand,Shoes,running shoes,2026-09-01,"1,234",56,4.54%,0.89,49.84,3.00,16.61\n'
    "Brand,Shoes,trail shoes,2026-09-02,800,10,1.25%,0.50,5.00,0,0\n"
    "Generic,Boots,boots,2026-09-02,1000,4,0.40%,1.00,4.00,0,0\n"
    'Total: Account,,,,"3,034",70,,,58.84,3,\n'
)


def test_ads_export_skips_titles_and_sets_the_totals_row_aside(tmp_path: Path) -> None:
    source = read_report(write(tmp_path, "ads.csv", ADS), SEARCH)
    assert source.rows == 3
    assert totals(source) == {"impressions": 3034.0, "clicks": 70.0, "cost": 58.84}
    assert source.lines.tolist() == [4, 5, 6]
    assert days(source) == ["2026-09-01", "2026-09-02", "2026-09-02"]
    assert source.dimensions == ("campaign", "ad_group", "keyword")
    assert source.dims["keyword"].tolist() == ["running shoes", "trail shoes", "boots"]
    assert source.measures == {"impressions": "Impr.", "clicks": "Clicks", "cost": "Cost"}
    assert source.rejected == (
        RejectedRow(
            source=str(tmp_path / "ads.csv"),
            line=7,
            field="Campaign",
            value="Total: Account",
            reason="looks like a totals row (the sum of the rows above); counting it would "
            "double every number",
            fix="nothing to do if it is the export's total line; remove it from the file to "
            "silence this",
            raw='Total: Account,,,,"3,034",70,,,58.84,3,',
        ),
    )
    assert "skipped 2 title lines before the header" in source.notes
    assert "line 7 looks like a totals row; set aside" in source.notes
    assert "column 'Day' read as the date" in source.notes
    assert "column 'Impr.' read as impressions" in source.notes


def test_rate_and_average_columns_are_ignored_with_one_note(tmp_path: Path) -> None:
    source = read_report(write(tmp_path, "ads.csv", ADS), SEARCH)
    rate_notes = [n for n in source.notes if n.startswith("ignored rate and average columns")]
    assert rate_notes == [
        "ignored rate and average columns 'CTR', 'Avg. CPC', 'Cost / conv.' "
        "(rates are computed from the counts)"
    ]
    assert not {"ctr", "avg_cpc", "cost_conv"} & set(source.dims)
    assert "Conversions" not in source.measures.values()
    assert "conversions" not in source.dims


def test_blank_dimensions_and_date_with_counts_is_a_totals_row(tmp_path: Path) -> None:
    text = "Date,Campaign,Clicks\n2026-09-01,A,5\n2026-09-02,B,7\n,,12\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert totals(source) == {"clicks": 12.0}
    [row] = source.rejected
    assert (row.line, row.field, row.raw) == (4, "", ",,12")
    assert row.reason.startswith("looks like a totals row")


@pytest.mark.parametrize("word", ["Grand total:", "ИТОГО", "合计", "Totals"])
def test_totals_words_in_any_language(tmp_path: Path, word: str) -> None:
    text = f"Campaign,Date,Clicks\nA,2026-09-01,5\n{word},,5\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert totals(source) == {"clicks": 5.0}
    assert [(r.line, r.value) for r in source.rejected] == [(3, word)]


# --- numbers ------------------------------------------------------------------------------------


def test_semicolon_file_reads_the_decimal_comma(tmp_path: Path) -> None:
    text = (
        "Date;Campaign;Clicks;Cost\n"
        "2026-09-01;A;1.234;1.234,50\n"
        "2026-09-02;B;7;12,5\n"
        "2026-09-03;C;3;1,234\n"
    )
    source = read_report(write(tmp_path, "de.csv", text), SEARCH)
    assert source.values["clicks"].tolist() == [1234.0, 7.0, 3.0]
    assert source.values["cost"].tolist() == [1234.5, 12.5, 1.234]
    assert "columns are separated by ';'" in source.notes
    assert (
        "',' is the decimal mark in this ';'-separated file: '1,234' read as 1.234" in source.notes
    )


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ('"$1,234.50"', 1234.5),
        ('"1.234,50 €"', 1234.5),
        ("USD 12", 12.0),
        ("1 234", 1234.0),
        ("1\u00a0234", 1234.0),
        ('"1\u202f234,5"', 1234.5),
        ('"1,234"', 1234.0),
        ('"1,234,567.89"', 1234567.89),
        ("1234.5", 1234.5),
        ("€7", 7.0),
    ],
)
def test_number_forms(tmp_path: Path, cell: str, value: float) -> None:
    text = f"Date,Cost\n2026-09-01,{cell}\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert source.rejected == ()
    assert source.values["cost"].tolist() == [value]


def test_empty_and_dash_counts_read_as_zero_with_a_note(tmp_path: Path) -> None:
    text = "Date,Clicks,Cost\n2026-09-01,--,1\n2026-09-02,,2\n2026-09-03,4,—\n2026-09-04,n/a,3\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert source.values["clicks"].tolist() == [0.0, 0.0, 4.0, 0.0]
    assert source.values["cost"].tolist() == [1.0, 2.0, 0.0, 3.0]
    assert "3 empty counts in 'Clicks' read as 0" in source.notes
    assert "1 empty value in 'Cost' read as 0" in source.notes


def test_a_bad_number_rejects_its_row_and_keeps_the_others(tmp_path: Path) -> None:
    text = "Date,Campaign,Clicks,Cost\n2026-09-01,A,5,1.5\n2026-09-02,B,12a,2\n2026-09-03,C,7,3\n"
    path = write(tmp_path, "r.csv", text)
    source = read_report(path, SEARCH)
    assert source.rejected == (
        RejectedRow(
            source=str(path),
            line=3,
            field="Clicks",
            value="12a",
            reason="'12a' is not a number",
            fix="write a plain number such as 1234 or 1,234.50",
            raw="2026-09-02,B,12a,2",
        ),
    )
    assert totals(source) == {"clicks": 12.0, "cost": 4.5}
    assert source.dims["campaign"].tolist() == ["A", "C"]
    assert source.lines.tolist() == [2, 4]


def test_negative_counts_and_cost_are_rejected(tmp_path: Path) -> None:
    text = "Date,Clicks,Cost\n2026-09-01,-3,1\n2026-09-02,4,(2.50)\n2026-09-03,5,6\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert [(r.line, r.field, r.value, r.reason, r.fix) for r in source.rejected] == [
        (2, "Clicks", "-3", "'-3' is negative", "counts cannot be negative; check the export"),
        (
            3,
            "Cost",
            "(2.50)",
            "'(2.50)' is negative",
            "cost and revenue cannot be negative; check the export",
        ),
    ]
    assert totals(source) == {"clicks": 5.0, "cost": 6.0}


def test_a_percent_in_a_count_column_is_a_rate(tmp_path: Path) -> None:
    text = "Date,Clicks\n2026-09-01,3.4%\n2026-09-02,2\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    [row] = source.rejected
    assert (row.line, row.reason) == (2, "'3.4%' is a rate, not a count")
    assert totals(source) == {"clicks": 2.0}


def test_a_ragged_row_is_rejected_with_its_raw_line(tmp_path: Path) -> None:
    text = "Date,Campaign,Clicks\n2026-09-01,A,5\n2026-09-02,B,6,9,9\n2026-09-03,C,7\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    [row] = source.rejected
    assert (row.line, row.field, row.reason, row.fix, row.raw) == (
        3,
        "",
        "has 5 fields, the header has 3",
        "check quoting or the delimiter",
        "2026-09-02,B,6,9,9",
    )
    assert totals(source) == {"clicks": 12.0}


def test_line_numbers_are_physical_across_quoted_newlines(tmp_path: Path) -> None:
    text = 'Date,Note,Clicks\n2026-09-01,"two\nlines",5\n2026-09-02,x,oops\n'
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert source.lines.tolist() == [2]
    assert source.dims["note"].tolist() == ["two\nlines"]
    assert [r.line for r in source.rejected] == [4]


# --- column naming ------------------------------------------------------------------------------


def test_synonyms_name_measures_and_dimensions(tmp_path: Path) -> None:
    text = "Date,Session campaign,Device category,Sessions\n2026-09-01, spring ,mobile,40\n"
    source = read_report(write(tmp_path, "ga.csv", text), SEARCH)
    assert source.dimensions == ("campaign", "device")
    assert source.dimension_columns == {"campaign": "Session campaign", "device": "Device category"}
    assert source.measures == {"visits": "Sessions"}
    assert source.dims["campaign"].tolist() == ["spring"]
    assert totals(source) == {"visits": 40.0}
    assert "column 'Sessions' read as visits" in source.notes
    assert DIMENSION_SYNONYMS["session_campaign"] == "campaign"
    assert "sessions" in MEASURE_SYNONYMS["visits"]


def test_currency_suffixed_cost_and_revenue(tmp_path: Path) -> None:
    text = "Date,Cost (USD),Revenue EUR,Orders\n2026-09-01,10,20,1\n"
    source = read_report(write(tmp_path, "r.csv", text), SEARCH)
    assert source.measures == {"orders": "Orders", "cost": "Cost (USD)", "revenue": "Revenue EUR"}


def test_explicit_columns_override_synonyms(tmp_path: Path) -> None:
    text = "Date,Users,Sessions\n2026-09-01,30,40\n2026-09-02,5,6\n"
    mapping = ReportMapping(stages=SEARCH.stages, columns={"visits": "users"})
    source = read_report(write(tmp_path, "r.csv", text), mapping)
    assert source.measures == {"visits": "Users"}
    assert totals(source) == {"visits": 35.0}
    assert "column 'Users' read as visits" in source.notes
    assert "column 'Sessions' also looks like visits; 'Users' is used as asked" in source.notes


def test_explicit_column_that_does_not_exist_names_the_close_match(tmp_path: Path) -> None:
    text = "Date,Sessions\n2026-09-01,40\n"
    mapping = ReportMapping(stages=SEARCH.stages, columns={"visits": "Sesions"})
    with pytest.raises(IngestError) as err:
        read_report(write(tmp_path, "r.csv", text), mapping)
    assert "'Sesions'" in str(err.value)
    assert "did you mean 'Sessions'?" in str(err.value)


def test_two_columns_for_one_measure_is_an_error(tmp_path: Path) -> None:
    text = "Date,Visits,Sessions\n2026-09-01,1,2\n"
    path = write(tmp_path, "r.csv", text)
    with pytest.raises(IngestError) as err:
        read_report(path, SEARCH)
    message = str(err.value)
    assert message.startswith(str(path))
    assert "columns 'Visits' and 'Sessions' both read as visits" in message
    assert '--stage visits="Visits"' in message


def test_stage_keys_and_labels_of_other_templates_are_columns(tmp_path: Path) -> None:
    mapping = ReportMapping(
        stages=("visits", "added_to_cart", "checkout", "orders"),
        stage_labels={"checkout": "Began checkout"},
    )
    text = "Date,Added to cart,Began checkout,Purchases\n2026-09-01,9,4,2\n"
    source = read_report(write(tmp_path, "shop.csv", text), mapping)
    assert source.measures == {
        "added_to_cart": "Added to cart",
        "checkout": "Began checkout",
        "orders": "Purchases",
    }


def test_measures_outside_the_template_are_not_used(tmp_path: Path) -> None:
    mapping = ReportMapping(stages=("visits", "orders"))
    text = "Date,Impressions,Sessions\n2026-09-01,900,40\n"
    source = read_report(write(tmp_path, "r.csv", text), mapping)
    assert source.measures == {"visits": "Sessions"}
    assert source.dimensions == ()


def test_id_columns_are_not_dimensions(tmp_path: Path) -> None:
    text = "Order ID,Date,id,Region name,Revenue\n17,2026-09-01,3,North,99.5\n"
    source = read_report(write(tmp_path, "orders.csv", text), SEARCH)
    assert source.dimensions == ("region",)
    assert "id columns 'Order ID', 'id' are not used as dimensions" in source.notes


# --- count-rows logs ----------------------------------------------------------------------------


def test_a_log_named_after_a_stage_counts_rows(tmp_path: Path) -> None:
    text = (
        "Received at,Name,Assigned rep\n"
        "2026-09-03T23:30:00-05:00,Ann,Kim\n"
        "2026-09-04 08:00:00+02:00,Bo,Lee\n"
        "2026-09-04,Cy,\n"
    )
    source = read_report(write(tmp_path, "leads.csv", text), SEARCH)
    assert source.measures == {"inquiries": "(rows)"}
    assert source.values["inquiries"].tolist() == [1.0, 1.0, 1.0]
    assert days(source) == ["2026-09-03", "2026-09-04", "2026-09-04"]
    assert source.dims["rep"].tolist() == ["Kim", "Lee", ""]
    assert "each row counts as one inquiry" in source.notes
    assert "column 'Received at' read as the date" in source.notes


def test_calls_and_chats_logs_count_inquiries(tmp_path: Path) -> None:
    for name in ("calls.csv", "chats.csv"):
        source = read_report(write(tmp_path, name, "Date,Caller\n2026-09-01,x\n"), SEARCH)
        assert source.measures == {"inquiries": "(rows)"}


def test_count_rows_mapping_names_the_stage_and_revenue_is_still_summed(tmp_path: Path) -> None:
    text = "Order date,Total\n2026-09-01,10.5\n2026-09-02,4\n"
    path = write(tmp_path, "export_q3.csv", text)
    mapping = ReportMapping(stages=SEARCH.stages, count_rows={"export_q3.csv": "orders"})
    source = read_report(path, mapping)
    assert source.measures == {"orders": "(rows)", "revenue": "Total"}
    assert totals(source) == {"orders": 2.0, "revenue": 14.5}
    assert "each row counts as one order" in source.notes


def test_without_count_rows_a_log_with_revenue_only_is_a_revenue_source(tmp_path: Path) -> None:
    text = "Order date,Total\n2026-09-01,10.5\n"
    source = read_report(write(tmp_path, "export_q3.csv", text), SEARCH)
    assert source.measures == {"revenue": "Total"}


def test_a_file_with_no_measure_and_no_stage_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", "Date,Name,City\n2026-09-01,Ann,Oslo\n")
    with pytest.raises(IngestError) as err:
        read_report(path, SEARCH)
    message = str(err.value)
    assert message.startswith(f"{path}: no column holds a count of any stage")
    assert '--stage impressions="Name"' in message
    assert "--count-rows people.csv=impressions" in message


def test_no_recognisable_header_lists_the_columns_and_the_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", "Keyword,Match type,Sessionz\nshoes,exact,4\n")
    with pytest.raises(IngestError) as err:
        read_report(path, SEARCH)
    message = str(err.value)
    assert "no header with a date or measure column in the first 30 lines" in message
    assert "'Keyword', 'Match type', 'Sessionz'" in message
    assert '--stage impressions="Sessionz"' in message
    assert "--count-rows odd.csv=impressions" in message


def test_no_date_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "Campaign,Clicks\nA,4\n")
    with pytest.raises(IngestError) as err:
        read_report(path, SEARCH)
    assert "no date column (columns: 'Campaign', 'Clicks')" in str(err.value)
    assert '--date-column "Campaign"' in str(err.value)


# --- dates --------------------------------------------------------------------------------------


def dated(tmp_path: Path, cells: list[str], mapping: ReportMapping = SEARCH) -> ReportSource:
    text = "Date,Clicks\n" + "".join(f'"{c}",1\n' for c in cells)
    return read_report(write(tmp_path, "d.csv", text), mapping)


def test_iso_dates_datetimes_and_weeks(tmp_path: Path) -> None:
    source = dated(
        tmp_path,
        [
            "2026-09-03",
            "2026-09-03T23:30:00-05:00",
            "2026-09-03 00:15:00+14:00",
            "2026-09-03T22:00:00Z",
            "2026-W36",
            "Sep 3, 2026",
            "3 September 2026",
            "20260903",
        ],
    )
    assert source.rejected == ()
    assert days(source) == ["2026-09-03"] * 4 + ["2026-08-31"] + ["2026-09-03"] * 3


def test_day_first_is_detected_from_a_day_above_12(tmp_path: Path) -> None:
    source = dated(tmp_path, ["03/09/2026", "13/09/2026", "01.10.2026"])
    assert days(source) == ["2026-09-03", "2026-09-13", "2026-10-01"]
    assert "dates in 'Date' read as day/month/year" in source.notes


def test_month_first_is_detected_from_a_second_field_above_12(tmp_path: Path) -> None:
    source = dated(tmp_path, ["09/03/2026", "09/13/2026"])
    assert days(source) == ["2026-09-03", "2026-09-13"]
    assert "dates in 'Date' read as month/day/year" in source.notes


def test_ambiguous_dates_ask_for_a_date_format(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as err:
        dated(tmp_path, ["03/09/2026", "04/09/2026"])
    message = str(err.value)
    assert "could be day/month/year or month/day/year" in message
    assert "--date-format %d/%m/%Y" in message
    assert "--date-format %m/%d/%Y" in message
    assert err.value.column == "Date"


def test_a_date_format_settles_ambiguous_dates(tmp_path: Path) -> None:
    mapping = ReportMapping(stages=SEARCH.stages, date_format="%m/%d/%Y")
    source = dated(tmp_path, ["03/09/2026", "04/09/2026"], mapping)
    assert days(source) == ["2026-03-09", "2026-04-09"]


def test_an_unreadable_date_rejects_its_row(tmp_path: Path) -> None:
    source = dated(tmp_path, ["2026-09-01", "yesterday", "2026-02-30", "2026-09-02"])
    assert days(source) == ["2026-09-01", "2026-09-02"]
    assert [(r.line, r.field, r.value, r.fix) for r in source.rejected] == [
        (3, "Date", "yesterday", "write dates as 2026-09-03"),
        (4, "Date", "2026-02-30", "write dates as 2026-09-03"),
    ]


def test_explicit_date_column(tmp_path: Path) -> None:
    text = "Created,Closed,Orders\n2026-09-01,2026-09-05,1\n"
    mapping = ReportMapping(stages=SEARCH.stages, date_column="closed")
    source = read_report(write(tmp_path, "r.csv", text), mapping)
    assert days(source) == ["2026-09-05"]
    assert source.dimensions == ("created",)


# --- formats and encodings ----------------------------------------------------------------------


def test_gzipped_csv_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write("\ufeffDate,Clicks\n2026-09-01,4\n2026-09-02,x\n".encode())
    source = read_report(path, SEARCH)
    assert totals(source) == {"clicks": 4.0}
    assert [(r.line, r.raw) for r in source.rejected] == [(3, "2026-09-02,x")]


def test_tsv_and_cp1252_fallback(tmp_path: Path) -> None:
    path = tmp_path / "r.tsv"
    path.write_bytes("Date\tCampaign\tClicks\n2026-09-01\tCafé\t4\n".encode("cp1252"))
    source = read_report(path, SEARCH)
    assert source.dims["campaign"].tolist() == ["Café"]
    assert "the file is not UTF-8; read it as Windows-1252 (cp1252)" in source.notes


def test_excel_utf16_tab_export(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("Date\tClicks\r\n2026-09-01\t4\r\n".encode("utf-16"))
    source = read_report(path, SEARCH)
    assert totals(source) == {"clicks": 4.0}
    assert "columns are separated by tabs" in source.notes


def test_parquet_numbers_strings_nulls_and_dates(tmp_path: Path) -> None:
    plus2 = timezone(timedelta(hours=2))
    # 01:00 at +02:00 is still the previous day in UTC: the date as recorded is kept.
    table = pa.table(
        {
            "Day": pa.array(
                [
                    datetime(2026, 9, 3, 23, 30, tzinfo=plus2),
                    datetime(2026, 9, 4, 1, 0, tzinfo=plus2),
                    None,
                    datetime(2026, 9, 5, tzinfo=plus2),
                ],
                type=pa.timestamp("us", tz="+02:00"),
            ),
            "Campaign": ["A", None, "C", "D"],
            "Clicks": pa.array([5, None, 2, -1], type=pa.int64()),
            "Cost": ["1,234.50", "", "3", "4"],
        }
    )
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    source = read_report(path, SEARCH)
    assert days(source) == ["2026-09-03", "2026-09-04"]
    assert source.dims["campaign"].tolist() == ["A", ""]
    assert source.values["clicks"].tolist() == [5.0, 0.0]
    assert source.values["cost"].tolist() == [1234.5, 0.0]
    assert source.lines.tolist() == [1, 2]
    assert [(r.line, r.field, r.reason) for r in source.rejected] == [
        (3, "Day", "the date is empty"),
        (4, "Clicks", "'-1' is negative"),
    ]
    assert source.rejected[1].raw.startswith("Day=2026-09-05 00:00:00+02:00")
    assert "Campaign=D, Clicks=-1, Cost=4" in source.rejected[1].raw
    assert "1 empty count in 'Clicks' read as 0" in source.notes


def test_parquet_date32_column(tmp_path: Path) -> None:
    start = date(2026, 9, 1)
    table = pa.table({"date": [start, start + timedelta(days=1)], "sessions": [3.0, 4.5]})
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    source = read_report(path, SEARCH)
    assert days(source) == ["2026-09-01", "2026-09-02"]
    assert source.values["visits"].dtype == np.float64
    assert totals(source) == {"visits": 7.5}


def test_missing_file_names_the_file_and_the_close_name(tmp_path: Path) -> None:
    write(tmp_path, "ads.csv", ADS)
    path = tmp_path / "adz.csv"
    with pytest.raises(IngestError) as err:
        read_report(path, SEARCH)
    assert str(err.value) == f"{path}: file not found; did you mean {str(tmp_path / 'ads.csv')!r}?"


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(IngestError) as err:
        read_report(path, SEARCH)
    assert "cannot read .xlsx files" in str(err.value)
    assert "save it as CSV" in str(err.value)
