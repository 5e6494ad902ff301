"""Marriage registration appointments (DOMAIN.md section 1).

- `calendar`: which sessions an office holds on a date (China's official calendar,
  the office's closures and special days, the weekly schedule) and slot ids;
- `schedules`: editing that calendar, listing slots, keeping seats in step;
- `appointments`: booking and the life of an appointment;
- `divorce`: divorce cases and their cooling-off period.
"""

from services.marriage import appointments, calendar, divorce, schedules

__all__ = ["appointments", "calendar", "divorce", "schedules"]
