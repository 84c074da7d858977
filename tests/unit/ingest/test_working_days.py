"""Due dates of text reports on the official Chinese calendar: holidays skipped, adjusted working weekends counted,
and years the installed calendar does not know refused rather than guessed."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from signalhub_ingest.reports import annual_due_on, owed_annual_years, special_due_on, submittable_annual_years
from signalhub_platform.workdays import (
    CalendarUnavailableError,
    is_working_day,
    supported_years,
    working_days_after,
    working_days_between,
)

D = dt.date


def test_national_day_2025_is_skipped_and_its_two_adjusted_weekends_count() -> None:
    # 国庆+中秋 2025: 1–8 October off; Sunday 28 September and Saturday 11 October are working days.
    # Counting Monday–Friday only would give 10 October.
    assert working_days_after(D(2025, 9, 26), 10) == D(2025, 10, 16)
    assert working_days_after(D(2025, 9, 26), 1) == D(2025, 9, 28)  # a Sunday, counted
    assert working_days_after(D(2025, 9, 30), 1) == D(2025, 10, 9)  # the whole holiday skipped


def test_spring_festival_2026() -> None:
    # 春节 2026: 15–23 February off; Saturdays 14 and 28 February are working days.
    assert working_days_after(D(2026, 2, 10), 10) == D(2026, 3, 2)
    assert working_days_after(D(2026, 2, 13), 2) == D(2026, 2, 24)


@pytest.mark.parametrize("day", [D(2025, 1, 26), D(2025, 2, 8), D(2025, 9, 28), D(2025, 10, 11), D(2026, 2, 14)])
def test_adjusted_working_weekends_are_working_days(day: dt.date) -> None:
    assert day.weekday() >= 5  # a Saturday or a Sunday ...
    assert is_working_day(day)  # ... that the State Council made a working day


@pytest.mark.parametrize("day", [D(2025, 10, 1), D(2025, 10, 6), D(2026, 2, 17), D(2026, 1, 1)])
def test_public_holidays_on_weekdays_are_not_working_days(day: dt.date) -> None:
    assert day.weekday() < 5
    assert not is_working_day(day)


def test_an_ordinary_week() -> None:
    assert working_days_after(D(2025, 11, 14), 10) == D(2025, 11, 28)  # a Friday: two plain weeks later
    assert working_days_after(D(2025, 11, 14), 0) == D(2025, 11, 14)


def test_the_end_day_itself_never_counts() -> None:
    # A campaign ending on a working day: the first of the ten days is the next working day.
    assert working_days_after(D(2025, 11, 17), 1) == D(2025, 11, 18)


def test_special_due_on_is_ten_working_days() -> None:
    assert special_due_on(D(2025, 9, 26)) == D(2025, 10, 16)


def test_working_days_between_counts_after_start_up_to_end() -> None:
    assert working_days_between(D(2025, 9, 26), D(2025, 10, 16)) == 10
    assert working_days_between(D(2025, 10, 16), D(2025, 10, 16)) == 0
    assert working_days_between(D(2025, 10, 17), D(2025, 10, 16)) == 0
    assert working_days_between(D(2025, 9, 30), D(2025, 10, 8)) == 0  # the holiday week


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        working_days_after(D(2025, 9, 26), -1)


def test_supported_years_are_the_packages() -> None:
    years = supported_years()
    assert years.start == 2004
    assert 2025 in years and 2026 in years
    # The package itself refuses the years around its data (it raises NotImplementedError), which
    # is why we check the range ourselves and name the year in our own error.
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(years.stop, 1, 4))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(years.start - 1, 6, 2))


def test_a_due_date_in_an_unpublished_year_fails_clearly() -> None:
    last = supported_years()[-1]
    with pytest.raises(CalendarUnavailableError, match=f"calendar for {last + 1} is not available") as caught:
        working_days_after(D(last, 12, 24), 10)
    assert caught.value.year == last + 1
    with pytest.raises(CalendarUnavailableError):
        is_working_day(D(supported_years().start - 1, 12, 31))


def test_annual_due_on_is_31_january_of_the_next_year() -> None:
    assert annual_due_on(2025) == D(2026, 1, 31)  # a Saturday: the date stands
    assert annual_due_on(2026) == D(2027, 1, 31)  # no calendar needed for a fixed date


def test_owed_annual_years_start_the_day_after_31_january() -> None:
    since = D(2010, 1, 1)
    assert owed_annual_years(D(2026, 1, 31), since) == [2022, 2023, 2024]
    assert owed_annual_years(D(2026, 2, 1), since) == [2023, 2024, 2025]
    assert owed_annual_years(D(2026, 11, 27), since) == [2023, 2024, 2025]


def test_owed_annual_years_not_before_the_agency_existed() -> None:
    assert owed_annual_years(D(2026, 11, 27), D(2025, 6, 1)) == [2025]
    assert owed_annual_years(D(2026, 11, 27), D(2026, 3, 1)) == []


def test_every_chased_year_can_be_submitted_up_to_the_current_one() -> None:
    assert list(submittable_annual_years(D(2026, 11, 27))) == [2023, 2024, 2025, 2026]
    assert list(submittable_annual_years(D(2026, 1, 20))) == [2022, 2023, 2024, 2025, 2026]  # 2022 still chased
