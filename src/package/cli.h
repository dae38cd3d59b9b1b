#pragma once
// `vigie package verify` and `vigie agent keygen`, as plain functions the CLI (src/cli/main.cc)
// wires to its flags. No CLI library here: parsing flags is the CLI's job.
//
// SECURITY: neither function ever prints a secret: verify prints the manifest and, with a site
// key, the *names* of the secrets; keygen prints the public key and its fingerprint.

#include <cstdio>
#include <string>

#include "base/env.h"

namespace vigie::package {

// Verifies the package at `file` against the fleet's Ed25519 public key (PEM file
// `fleet_key_file`) at env.clock->Now(). When `site_key_file` is not empty, also opens the
// secret section with that enrollment private key file (which must be mode 0600).
// Prints a manifest summary to `out` and returns 0 when the package is good; otherwise writes
// "vigie: <path>: package rejected (<reason>): <what to do>" to `err`, nothing to `out`, and
// returns ExitCodeFor() of the error's code (non-zero; see package.h for the table).
// REQUIRES: env.clock and env.fs are set.
int RunPackageVerify(const std::string& file, const std::string& fleet_key_file,
                     const std::string& site_key_file, Env& env, std::FILE* out, std::FILE* err);
// Same with RealEnv() and errors to stderr.
int RunPackageVerify(const std::string& file, const std::string& fleet_key_file,
                     const std::string& site_key_file, std::FILE* out);

// Generates the site's enrollment key pair in `out_dir` (WriteEnrollmentKeyPair) and prints the
// file paths, the public key PEM, its fingerprint and what to hand to the fleet operator.
// Returns 0, or ExitCodeFor() of the error after printing it to `err` (e.g. 5 when a key exists).
int RunAgentKeygen(const std::string& out_dir, Env& env, std::FILE* out, std::FILE* err);
// Same with RealEnv() and errors to stderr.
int RunAgentKeygen(const std::string& out_dir, std::FILE* out);

}  // namespace vigie::package
