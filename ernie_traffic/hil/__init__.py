"""Hardware-in-the-loop simulation: SUMO plays the street, virtual NTCIP 1202 signal controllers
(SNMP agents) play the cabinets, and runtimes command them over SNMP. See ``docs/hil.md``."""
