from ml314.domain.faults import FAULT_KINDS, FaultSeverity, SystemFault, SystemFaultKind


def test_every_kind_has_a_row() -> None:
    assert set(FAULT_KINDS) == set(SystemFaultKind)


def test_record_renders_its_kind_module_and_reference() -> None:
    fault = SystemFault(SystemFaultKind.MODULE_LOST, "no answer to 3 polls", module_id=3, t_s=12.0)
    assert fault.severity is FaultSeverity.ALARM
    assert fault.label == "module lost M3"
    record = fault.as_dict()
    assert record["kind"] == "module_lost"
    assert record["severity"] == "alarm"
    assert record["manual_ref"] == "12.2 #1"


def test_link_fault_names_the_link() -> None:
    assert SystemFault(SystemFaultKind.LINK_LOST, "socket closed", link="CAN").label == "link lost CAN"
