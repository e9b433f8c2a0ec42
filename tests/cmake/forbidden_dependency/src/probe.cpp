// The probe module's only source: ddlgate_module needs one to make a library.
int ddlgate_layering_probe() { return 0; }
