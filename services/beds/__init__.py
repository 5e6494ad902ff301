"""Elderly-care institution beds (DOMAIN.md section 2).

- `institutions`: profiles and the public search with vacancies and distance.
- `inventory`: an institution's beds, outside admissions, discharge, occupancy.
- `applications`: apply, assess, accept / decline / withdraw, admit, reject, waitlist.
- `pool`: the one place beds and waiting applications meet (locking, expiry, offers).
- `priority`: the waiting-list priority classes, configurable per city, and the
  class on a given date (age moves it) as one SQL expression.
- `lifecycle`: who sees an application, and the actions that move it.
"""

from services.beds import applications, institutions, inventory, lifecycle, pool, priority

__all__ = ["applications", "institutions", "inventory", "lifecycle", "pool", "priority"]
