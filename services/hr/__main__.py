"""`python -m services.hr`: the HR worker, with payroll."""

from services.hr import payroll
from shared.request_engine.worker import main

main("hr", payroll.handlers)
