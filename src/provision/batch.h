#pragma once
// The batch form of `vigie site provision`: a file listing many sites, and the progress bar shown
// while they are provisioned.
//
// Batch file format (UTF-8 text, one site per line, CSV without quoting):
//
//   # comment lines and blank lines are ignored
//   site_id,region,enrollment_key          <- optional header line, exactly this
//   acme-paris,eu-west-3,keys/acme-paris.pub
//   acme-lyon, eu-west-3 , /srv/keys/acme-lyon.pub
//
// Three comma-separated fields, surrounding spaces trimmed: the site id
// ([a-z0-9][a-z0-9-]{0,62}), the region ([a-z0-9-]{1,32}) and the path of the site's
// enrollment.pub (`vigie agent keygen`), relative paths being relative to the batch file's
// directory. A site may appear once. Every error names "<file>:<line>: " and what to fix; the
// whole file is checked (and every key read) before any site is provisioned.
//
// Thread-safety: stateless functions.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "provision/provisioner.h"

namespace vigie::provision {

struct BatchLine {
  int line = 0;  // 1-based line number in the file
  std::string site_id;
  std::string region;
  std::string enrollment_key_path;  // as written in the file
};

// Parses the text of a batch file; `file_name` prefixes errors.
// Errors: kInvalidArgument "<file>:<line>: ..." (field count, site id, region, empty key path,
// duplicate site), or "<file>: no sites" when it lists none.
Result<std::vector<BatchLine>> ParseBatchFile(std::string_view text, std::string_view file_name);

// Reads the batch file at `path`, parses it and loads every enrollment public key.
// Errors: those of ParseBatchFile; kNotFound / kIo reading the batch file; kInvalidArgument /
// kNotFound "<file>:<line>: enrollment key <path>: ..." for a key that cannot be used.
Result<std::vector<SiteRequest>> LoadBatchFile(const std::string& path, FileSystem& fs);

// "[#####...............] 5/20 site-e": `width` cells, filled in proportion to done/total.
// REQUIRES: total > 0, width > 0.
std::string RenderProgressBar(size_t done, size_t total, std::string_view site, int width = 20);

}  // namespace vigie::provision
