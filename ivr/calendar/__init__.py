"""Working-day calendars: public holidays and adjusted working days per region."""

from __future__ import annotations

from ivr.calendar.workdays import CalendarDataMissingError, Overrides, WorkCalendar

__all__ = ["CalendarDataMissingError", "Overrides", "WorkCalendar"]
