"""`python -m services.hr`: the HR worker, with payroll."""

from services.hr import payroll
from shared.request_worker import main

main("hr", payroll.handlers)
