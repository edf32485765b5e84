"""Signal controllers: the Controller protocol, classical controllers, trained policies
(``controllers.learned``: torch), exported bundles, and the resolver from a command's argument to one."""

from ernie_traffic.controllers.base import Controller
from ernie_traffic.controllers.classical import CLASSICAL, classical_controller

__all__ = ["CLASSICAL", "Controller", "classical_controller"]
