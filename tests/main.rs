fn smoke() {}
