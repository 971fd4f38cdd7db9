"""Operations: live figures of every platform topic, consumer lag, dead letters, SLA breaches."""
