"""HR's own rule: payroll is charged monthly per payslip, once per tenant and period."""

from datetime import date
from decimal import Decimal

from shared import ids
from shared.catalogue import Catalogue
from shared.contracts import ChargeRecorded, PayrollCharged, PayrollRunRequested
from shared.contracts.names import CHARGE_RECORDED, PAYROLL_CHARGED, PAYROLL_RUN_REQUESTED
from shared.events import Event, EventCodec
from shared.request_engine import lifecycle
from shared.request_engine.handlers import Handler, Outcome, Unprocessable
from shared.tenants import Registry, RegistryError
from shared.topics import CHARGES, events_topic

PAYROLL = "payroll"


def run_key(period: str, tenant: str) -> str:
    return f"payroll/{period}/{tenant}"


def payroll_charge(registry: Registry, catalogue: Catalogue, tenant: str, period: str) -> ChargeRecorded | None:
    """A charge for every payslip of `tenant`'s head count on the first day of `period`; None for
    a tenant with no staff on the payroll, who owes nothing."""
    first_day = date.fromisoformat(f"{period}-01")
    tenant_record = registry.get(tenant)
    if not tenant_record.active_on(first_day):
        raise Unprocessable(f"{tenant} is not a tenant in {period}")
    payslips = tenant_record.figures_on(first_day).staff
    if payslips == 0:
        return None
    unit_price = catalogue.type(PAYROLL).price.unit_price
    return ChargeRecorded(
        charge_id=ids.derived(f"charge/{run_key(period, tenant)}"),
        service="hr", request_type=PAYROLL, kind="recurring", quantity=payslips, unit_price=unit_price,
        amount=unit_price * payslips, cost_centre="PAYROLL", period=period,
        description=f"Payroll {period}: {payslips} payslips",
    )


def handlers(catalogue: Catalogue, codec: EventCodec, registry: Registry) -> dict[str, Handler]:
    def answer(event: Event, run: PayrollRunRequested, charge: dict | None, before: bool) -> tuple[str, str, Event]:
        """The run's outcome for this tenant, on HR's events topic, where the gateway reads it."""
        key = run_key(run.period, event.tenant)
        charged = PayrollCharged(period=run.period, payslips=int(Decimal(charge["quantity"])) if charge else 0,
                                 amount=charge["amount"] if charge else "0.00",
                                 charge_id=charge["charge_id"] if charge else None, command_id=event.id,
                                 charged_before=before)
        return events_topic("hr"), key, codec.build(PAYROLL_CHARGED, "/hps/hr", event.tenant, charged, subject=key,
                                                    id=lifecycle.derived_id(event.id, 0))

    def on_payroll_run(state, event: Event) -> Outcome:
        run = PayrollRunRequested.model_validate(event.data)
        if state is not None:  # this tenant's payroll for this period is charged already
            return Outcome(None, [answer(event, run, state["payroll"], before=True)])
        try:
            charge = payroll_charge(registry, catalogue, event.tenant, run.period)
        except RegistryError as exc:
            raise Unprocessable(str(exc)) from None
        if charge is None:  # run, and nothing to charge
            return Outcome({"payroll": None, "tenant": event.tenant}, [answer(event, run, None, before=False)])
        charged = codec.build(CHARGE_RECORDED, "/hps/hr", event.tenant, charge,
                              subject=run_key(run.period, event.tenant), id=charge.charge_id)
        payroll = charge.model_dump(mode="json")
        return Outcome({"payroll": payroll, "tenant": event.tenant},
                       [(CHARGES, event.tenant, charged), answer(event, run, payroll, before=False)])

    return {PAYROLL_RUN_REQUESTED: on_payroll_run}
